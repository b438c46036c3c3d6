"""User-defined schedules: rows with `next_run_at` that the scheduler tick claims."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from devflow.core.tenancy import TeamScopedQuerySet


class ScheduledJob(models.Model):
    """Run a job kind on a cron expression (in a time zone) or every N seconds."""

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=60)
    params = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=100, blank=True, help_text="e.g. 0 2 * * *")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_job = models.ForeignKey(
        "core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["next_run_at", "id"]
        indexes = [
            models.Index(
                fields=["next_run_at"], name="schedule_due", condition=models.Q(enabled=True)
            )
        ]

    def __str__(self) -> str:
        return self.name
