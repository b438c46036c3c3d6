"""OpenAPI examples for the accounts app's components (see devflow.api.examples)."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {}
