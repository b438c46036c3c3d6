from __future__ import annotations

from django.db import models


class ServerStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"  # never checked, or checks are off
    UP = "up", "Up"  # the last check connected and ran a command
    DOWN = "down", "Down"  # the last check failed; status_message says why


STATUS_COLOURS = {ServerStatus.UNKNOWN: "grey", ServerStatus.UP: "green", ServerStatus.DOWN: "red"}


class KeyAlgorithm(models.TextChoices):
    ED25519 = "ssh-ed25519", "Ed25519 (recommended)"
    RSA = "ssh-rsa", "RSA 4096"
    ECDSA = "ecdsa-sha2-nistp256", "ECDSA P-256"
