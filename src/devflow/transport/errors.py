"""Why a connection or command failed, in words a user can act on."""

from __future__ import annotations

from django.db import models


class FailureReason(models.TextChoices):
    DNS = "dns", "Name not found"
    REFUSED = "refused", "Connection refused"
    TIMEOUT = "timeout", "Timed out"
    UNREACHABLE = "unreachable", "Network unreachable"
    AUTH = "auth", "Authentication failed"
    HOST_KEY_CHANGED = "host_key_changed", "Host key changed"
    KEY = "key", "Unusable private key"
    SUDO = "sudo", "sudo refused"
    DISCONNECTED = "disconnected", "Connection lost"
    CANCELLED = "cancelled", "Cancelled"
    OTHER = "other", "Failed"


class TransportError(Exception):
    """A connection or transfer failed; `reason` classifies it, the message explains it."""

    def __init__(self, reason: str, message: str, *, presented_fingerprint: str = "") -> None:
        super().__init__(message)
        self.reason = FailureReason(reason)
        self.message = message
        self.presented_fingerprint = presented_fingerprint

    def __str__(self) -> str:
        return self.message
