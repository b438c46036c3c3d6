"""Webhook providers: each module registers one receiver class."""

from devflow.webhooks.providers import bitbucket, custom, github, gitlab  # noqa: F401
from devflow.webhooks.providers.base import RECEIVERS, Event, PayloadError, Push, Receiver

__all__ = ["RECEIVERS", "Event", "PayloadError", "Push", "Receiver"]
