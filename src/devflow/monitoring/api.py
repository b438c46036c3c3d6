"""API of the monitoring app (filled in by the REST API issue)."""

from __future__ import annotations

from rest_framework.routers import BaseRouter


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
