"""What people are told about deployments: outcomes and upcoming scheduled runs."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from devflow.core.models import JobStatus
from devflow.deployments.models import Deployment, ScheduledDeployment
from devflow.notifications import services as notifications


def announce_outcome(deployment: Deployment, status: str, error: str) -> None:
    """One notification per finished run; a cancelled run was someone's own choice."""
    if status == JobStatus.CANCELLED:
        return
    deployment = Deployment.objects.select_related("project", "environment", "actor").get(
        pk=deployment.pk
    )
    where = f"{deployment.project.name} ({deployment.environment.name})"
    who = deployment.actor.get_username() if deployment.actor else deployment.get_trigger_display()
    commit = f"{deployment.short_sha} {deployment.commit_message}".strip() or deployment.branch
    link = notifications.link_to(reverse("deployments:detail", args=[deployment.pk]))
    if status != JobStatus.SUCCEEDED:
        reason = deployment.outcome or error or JobStatus(status).label
        notifications.emit(
            deployment.team, "deployment.failed", link=link,
            title=f"Deployment of {where} failed",
            body=f"Deployment #{deployment.pk} ({commit}), started by {who}: {reason}",
        )  # fmt: skip
    elif deployment.rollback_of_id:
        notifications.emit(
            deployment.team, "deployment.rolled_back", link=link,
            title=f"{where} rolled back to {deployment.release_name or commit}",
            body=f"{who} rolled {where} back to release {deployment.release_name} ({commit}).",
        )  # fmt: skip
    else:
        notifications.emit(
            deployment.team, "deployment.succeeded", link=link,
            title=f"Deployed {where}",
            body=f"Deployment #{deployment.pk} of {commit}, started by {who}, is live.",
        )  # fmt: skip


def announce_reminder(schedule: ScheduledDeployment, minutes: int, local_time: datetime) -> None:
    environment = schedule.environment
    where = f"{environment.project.name} ({environment.name})"
    note = f" Note: {schedule.note}" if schedule.note else ""
    when = f"{local_time:%Y-%m-%d %H:%M} {schedule.timezone}"
    notifications.emit(
        schedule.team, "deployment.reminder",
        link=notifications.link_to(reverse("projects:detail", args=[environment.project_id])),
        title=f"{where} deploys in {minutes} minutes",
        body=f"A scheduled deployment of {where} runs at {when}.{note}",
    )  # fmt: skip
