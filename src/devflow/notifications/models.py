"""Notification channels (Apprise or webhook URLs, encrypted) and the log of what was sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from devflow.core.fields import EncryptedTextField
from devflow.core.tenancy import TeamOwnedModel
from devflow.notifications.events import EVENTS


class Channel(TeamOwnedModel):
    """Where a team's notifications go: one URL of one kind (Apprise, webhook) and its events.

    `kind` names a notifier registered in `notifier.NOTIFIERS`; a webhook channel signs every
    request with `signing_secret`, which is shown once when made and never again.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(
        max_length=20, default="apprise", help_text="The notifier that sends: apprise, webhook."
    )
    url = EncryptedTextField(help_text="The channel's URL, credentials included; never shown back.")
    signing_secret = EncryptedTextField(
        blank=True, help_text="Webhooks: the HMAC key of DevFlow-Signature; shown once."
    )
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    service = models.CharField(max_length=60, help_text="The service's name (Apprise's, Webhook).")
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
    # Not sent yet: its job is queued or running, or (webhooks) it waits for its next try.
    PENDING = "pending", "Pending"
    # The service accepted it.
    SENT = "sent", "Sent"
    # Given up: a permanent failure, or the last try failed too. `error` says why.
    FAILED = "failed", "Failed"


class Delivery(TeamOwnedModel):
    """One notification to one channel: what was said, and whether it arrived."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    title = models.CharField(max_length=250)
    body = models.TextField()
    link = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Facts of the event (webhooks).")
    is_test = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    permanent = models.BooleanField(default=False, help_text="The failure will not heal itself.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Channels retried across time (webhooks): when the scheduler tick queues it (again) if it
    # is still pending: the next try after a passing failure, or the end of a job's lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="delivery_channel_created"),
            # The tick's question, "which pending deliveries are due?", on the unclaimed rows only.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending", next_attempt_at__isnull=False),
                name="notification_retry_due",
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"

    @property
    def event_label(self) -> str:
        kind = EVENTS.get(self.event)
        return kind.label if kind else "Test" if self.event == "test" else self.event

    @property
    def retrying(self) -> bool:
        """A passing failure happened and another try is planned (webhooks)."""
        return self.status == DeliveryStatus.PENDING and self.attempts > 0 and bool(self.error)
