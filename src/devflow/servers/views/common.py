"""What every server page imports: who is asking and in which team (see core.access)."""

from __future__ import annotations

from devflow.core.access import current_team, fetch, me

__all__ = ["current_team", "fetch", "me"]
