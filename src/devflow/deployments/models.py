"""Deployments (one run of the pipeline), the releases they leave, and scheduled deploys."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from devflow.core.fields import EncryptedTextField
from devflow.core.models import Job, JobStatus
from devflow.core.models.jobs import STATUS_COLOURS
from devflow.core.tenancy import TeamOwnedModel, TeamScopedQuerySet


class DeployTrigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    ROLLBACK = "rollback", "Rollback"
    API = "api", "API"
    CLI = "cli", "Command line"


class DeploymentQuerySet(TeamScopedQuerySet["Deployment"]):
    def active(self) -> DeploymentQuerySet:
        return self.filter(job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


class Deployment(TeamOwnedModel):
    """One run of the pipeline for an environment; its status is its job's status."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="deployments"
    )
    environment = models.ForeignKey(
        "projects.Environment", on_delete=models.CASCADE, related_name="deployments"
    )
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployment"
    )
    trigger = models.CharField(max_length=10, choices=DeployTrigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    branch = models.CharField(max_length=200)
    requested_sha = models.CharField(max_length=40, blank=True, help_text="Pinned commit, if any.")
    commit_sha = models.CharField(max_length=40, blank=True)
    commit_message = models.CharField(max_length=500, blank=True)
    commit_author = models.CharField(max_length=200, blank=True)
    release_name = models.CharField(max_length=40, blank=True)
    rollback_of = models.ForeignKey(
        "Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollbacks"
    )
    redeploy_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeploys"
    )
    # The commands, shared paths and checks it ran with; the environment is encrypted.
    pipeline_snapshot = models.JSONField(default=dict, blank=True)
    env_snapshot = EncryptedTextField(blank=True)
    server_names = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = DeploymentQuerySet.as_manager()  # type: ignore[misc]  # narrows the base's manager

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "-created_at"], name="deploy_env_created")]

    def __str__(self) -> str:
        return f"Deployment #{self.pk} of {self.project.name}"

    @property
    def status(self) -> str:
        return self.job.status if self.job else JobStatus.FAILED

    @property
    def status_label(self) -> str:
        return JobStatus(self.status).label

    @property
    def status_colour(self) -> str:
        return STATUS_COLOURS[JobStatus(self.status)]

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()

    @property
    def short_sha(self) -> str:
        return self.commit_sha[:8]

    def environment_variables(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.env_snapshot) if self.env_snapshot else {}
        return data

    def set_environment_variables(self, values: dict[str, Any]) -> None:
        self.env_snapshot = json.dumps(values, sort_keys=True)


class ReleaseStatus(models.TextChoices):
    BUILDING = "building", "Building"
    ACTIVE = "active", "Live"
    KEPT = "kept", "Kept"
    FAILED = "failed", "Failed"
    PURGED = "purged", "Purged"


class ReleaseQuerySet(TeamScopedQuerySet["Release"]):
    team_path = "environment__project__team"


class Release(models.Model):
    """A directory `releases/<name>` on every server of an environment."""

    environment = models.ForeignKey(
        "projects.Environment", on_delete=models.CASCADE, related_name="releases"
    )
    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="release")
    name = models.CharField(max_length=40)
    commit_sha = models.CharField(max_length=40)
    status = models.CharField(
        max_length=10, choices=ReleaseStatus.choices, default=ReleaseStatus.BUILDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="release_env_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def team(self) -> Any:
        return self.environment.project.team

    @property
    def can_roll_back_to(self) -> bool:
        return self.status == ReleaseStatus.KEPT


class ScheduleStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FIRED = "fired", "Started"
    CANCELLED = "cancelled", "Cancelled"


class ScheduledDeployment(TeamOwnedModel):
    """A deployment to start once, at a chosen time (a maintenance window)."""

    environment = models.ForeignKey(
        "projects.Environment", on_delete=models.CASCADE, related_name="scheduled_deployments"
    )
    run_at = models.DateTimeField(db_index=True)
    timezone = models.CharField(max_length=64, default="UTC")
    remind_minutes_before = models.PositiveIntegerField(default=15)
    reminded_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=ScheduleStatus.choices, default=ScheduleStatus.PENDING
    )
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_at", "id"]
        indexes = [
            models.Index(
                fields=["run_at"], name="scheduled_deploy_due", condition=models.Q(status="pending")
            )
        ]

    def __str__(self) -> str:
        return f"Deploy {self.environment} at {self.run_at:%Y-%m-%d %H:%M} UTC"
