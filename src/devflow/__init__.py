"""DevFlow Pro: a self-hosted deployment and server platform."""

from __future__ import annotations

__version__ = "0.1.0"
