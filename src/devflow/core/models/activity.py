"""The append-only activity log: who did what, to what, from where, with what result."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class ActivitySource(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    CLI = "cli", "Command line"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    SYSTEM = "system", "System"


class ActivityResult(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AppendOnlyError(RuntimeError):
    """The activity log is never edited or deleted."""


class ActivityQuerySet(models.QuerySet["ActivityLog"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("The activity log is append-only.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("The activity log is append-only.")

    def for_user(self, user: Any, action: str = "view") -> ActivityQuerySet:
        from devflow.accounts.choices import roles_allowed

        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(
            team__memberships__user=user, team__memberships__role__in=roles_allowed(action)
        )


class ActivityLog(models.Model):
    """One state-changing action. Rows are only ever added; secret values are never stored."""

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team_name = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    source = models.CharField(
        max_length=10, choices=ActivitySource.choices, default=ActivitySource.WEB
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    result = models.CharField(
        max_length=10, choices=ActivityResult.choices, default=ActivityResult.SUCCESS
    )
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "-at"], name="activity_team_at")]

    def __str__(self) -> str:
        return f"{self.actor_label or 'system'} {self.action} {self.target_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("The activity log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("The activity log is append-only.")
