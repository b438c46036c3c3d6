"""Webhook settings per project, and one delivery row per request received."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import models

from devflow.core.fields import EncryptedTextField


def new_public_id() -> str:
    return secrets.token_urlsafe(18)


class WebhookConfig(models.Model):
    """A project's webhook: the unguessable id in its URL, its secret, on or off."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="webhook"
    )
    public_id = models.CharField(max_length=40, unique=True, default=new_public_id)
    secret = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    tag_environment = models.ForeignKey(
        "projects.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Deploy pushed tags to this environment (none: tags are ignored).",
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Webhook of {self.project}"

    @property
    def team(self) -> Any:
        return self.project.team


class Decision(models.TextChoices):
    DEPLOYED = "deployed", "Deployed"
    IGNORED = "ignored", "Ignored"
    REJECTED = "rejected", "Rejected"
    RETRYING = "retrying", "Queue failed, retrying"
    FAILED = "failed", "Failed"


DECISION_COLOURS = {
    Decision.DEPLOYED: "green",
    Decision.IGNORED: "grey",
    Decision.REJECTED: "red",
    Decision.RETRYING: "amber",
    Decision.FAILED: "red",
}


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def for_user(self, user: Any, action: str = "view") -> DeliveryQuerySet:
        from devflow.accounts.choices import roles_allowed

        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(
            team__memberships__user=user, team__memberships__role__in=roles_allowed(action)
        )


class Delivery(models.Model):
    """One webhook request, accepted or not, and what was decided about it and why."""

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE,
        related_name="deliveries",
    )  # fmt: skip
    provider = models.CharField(max_length=20)
    event = models.CharField(max_length=60, blank=True)
    delivery_id = models.CharField(max_length=100, blank=True)
    signature_valid = models.BooleanField(null=True)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(max_length=500)
    http_status = models.PositiveSmallIntegerField()
    ref = models.CharField(max_length=250, blank=True)
    commit_sha = models.CharField(max_length=40, blank=True)
    commit_message = models.CharField(max_length=500, blank=True)
    deployments = models.ManyToManyField("deployments.Deployment", blank=True, related_name="+")
    # What was decided to deploy: [{"environment_id", "ref", "sha"}], kept to retry queueing.
    plan = models.JSONField(default=list, blank=True)
    payload = models.TextField(blank=True, help_text="The body, cut at the stored maximum.")
    payload_size = models.PositiveIntegerField(default=0)
    headers = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-received_at"], name="delivery_project_received"),
            models.Index(fields=["project", "provider", "delivery_id"], name="delivery_dedupe"),
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_retry_due",
                condition=models.Q(decision="retrying"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} delivery #{self.pk}"

    @property
    def decision_colour(self) -> str:
        return DECISION_COLOURS[Decision(self.decision)]
