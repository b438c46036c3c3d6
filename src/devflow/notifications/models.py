"""Notification channels (Apprise URLs, encrypted) and the log of what was sent through them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from devflow.core.fields import EncryptedTextField
from devflow.core.tenancy import TeamOwnedModel
from devflow.notifications.events import EVENTS


class Channel(TeamOwnedModel):
    """Where a team's notifications go: one Apprise URL and the events it wants."""

    name = models.CharField(max_length=100)
    url = EncryptedTextField(help_text="The Apprise URL, credentials included; never shown back.")
    service = models.CharField(max_length=60, help_text="Apprise's name for the service.")
    masked_url = models.CharField(max_length=1000, help_text="The URL with its secrets hidden.")
    events = models.JSONField(default=list, blank=True, help_text="Event names it receives.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=1000, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="channel_team_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.events

    @property
    def event_labels(self) -> list[str]:
        return [EVENTS[name].label if name in EVENTS else name for name in self.events]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(TeamOwnedModel):
    """One notification to one channel: what was said, and whether it arrived."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    title = models.CharField(max_length=250)
    body = models.TextField()
    link = models.CharField(max_length=1000, blank=True)
    is_test = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    permanent = models.BooleanField(default=False, help_text="The failure will not heal itself.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["channel", "-created_at"], name="delivery_channel_created")]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"

    @property
    def event_label(self) -> str:
        kind = EVENTS.get(self.event)
        return kind.label if kind else "Test" if self.event == "test" else self.event
