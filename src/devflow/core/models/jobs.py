"""Jobs: one row per long action, with status, heartbeat, progress and an append-only log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from devflow.core.tenancy import TeamScopedQuerySet


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # row written, message on the queue, no worker yet
    RUNNING = "running", "Running"  # a worker claimed it and sends heartbeats
    SUCCEEDED = "succeeded", "Succeeded"  # run() returned
    FAILED = "failed", "Failed"  # run() raised, the worker died, or it could not be queued
    CANCELLED = "cancelled", "Cancelled"  # a user asked it to stop
    TIMED_OUT = "timed_out", "Timed out"  # ran past its kind's hard timeout

    @classmethod
    def finished(cls) -> list[str]:
        return [cls.SUCCEEDED, cls.FAILED, cls.CANCELLED, cls.TIMED_OUT]


STATUS_COLOURS = {
    JobStatus.QUEUED: "grey",
    JobStatus.RUNNING: "blue",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "amber",
    JobStatus.TIMED_OUT: "red",
}


class JobTrigger(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    CLI = "cli", "Command line"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    SYSTEM = "system", "System"


class JobQuerySet(TeamScopedQuerySet["Job"]):
    pass


class Job(models.Model):
    """One run of a long action (deploy, backup, bulk action...), owned by the job base class."""

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=60, db_index=True)
    status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=10, choices=JobTrigger.choices, default=JobTrigger.WEB)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(default=3600)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    log_line_count = models.PositiveIntegerField(default=0)
    # A queued job held back until this lock is free (see JobKind.wait_for_lock).
    waiting_for = models.CharField(max_length=100, blank=True, default="")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                name="job_running_heartbeat",
                condition=models.Q(status="running"),
            ),
            models.Index(fields=["team", "-created_at"], name="job_team_created"),
        ]

    def __str__(self) -> str:
        return f"Job #{self.pk} {self.kind}"

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()

    @property
    def status_colour(self) -> str:
        return STATUS_COLOURS[JobStatus(self.status)]

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class LogStream(models.TextChoices):
    INFO = "info", "Info"
    STDOUT = "stdout", "Output"
    STDERR = "stderr", "Errors"


class JobLogLine(models.Model):
    """One line of a job's log; lines are appended in batches and never changed."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    stream = models.CharField(max_length=6, choices=LogStream.choices, default=LogStream.INFO)
    text = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="joblogline_job_seq")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.seq} {self.text[:40]}"
