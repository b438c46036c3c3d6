"""What people are told about deployments: outcomes and upcoming scheduled runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    data = {"deployment": deployment_facts(deployment, status, error)}
    if status != JobStatus.SUCCEEDED:
        reason = deployment.outcome or error or JobStatus(status).label
        notifications.emit(
            deployment.team, "deployment.failed", link=link, data=data,
            title=f"Deployment of {where} failed",
            body=f"Deployment #{deployment.pk} ({commit}), started by {who}: {reason}",
        )  # fmt: skip
    elif deployment.rollback_of_id:
        notifications.emit(
            deployment.team, "deployment.rolled_back", link=link, data=data,
            title=f"{where} rolled back to {deployment.release_name or commit}",
            body=f"{who} rolled {where} back to release {deployment.release_name} ({commit}).",
        )  # fmt: skip
    else:
        notifications.emit(
            deployment.team, "deployment.succeeded", link=link, data=data,
            title=f"Deployed {where}",
            body=f"Deployment #{deployment.pk} of {commit}, started by {who}, is live.",
        )  # fmt: skip


def deployment_facts(deployment: Deployment, status: str, error: str) -> dict[str, Any]:
    """What an event webhook's `data.deployment` holds (docs/notifications.md)."""
    return {
        "id": deployment.pk,
        "status": status,
        "project": {"id": deployment.project_id, "name": deployment.project.name},
        "environment": {"id": deployment.environment_id, "name": deployment.environment.name},
        "branch": deployment.branch,
        "commit_sha": deployment.commit_sha,
        "commit_message": deployment.commit_message,
        "release": deployment.release_name or None,
        "trigger": deployment.trigger,
        "actor": deployment.actor.get_username() if deployment.actor else None,
        "rollback_of": deployment.rollback_of_id,
        "error": "" if status == JobStatus.SUCCEEDED else (deployment.outcome or error),
    }


def announce_reminder(schedule: ScheduledDeployment, minutes: int, local_time: datetime) -> None:
    environment = schedule.environment
    where = f"{environment.project.name} ({environment.name})"
    note = f" Note: {schedule.note}" if schedule.note else ""
    when = f"{local_time:%Y-%m-%d %H:%M} {schedule.timezone}"
    notifications.emit(
        schedule.team, "deployment.reminder",
        link=notifications.link_to(reverse("projects:detail", args=[environment.project_id])),
        title=f"{where} deploys in {minutes} minutes",
        data={"schedule": {
            "id": schedule.pk, "runs_at": local_time.isoformat(), "timezone": schedule.timezone,
            "minutes_left": minutes, "note": schedule.note,
            "project": {"id": environment.project_id, "name": environment.project.name},
            "environment": {"id": environment.pk, "name": environment.name},
        }},
        body=f"A scheduled deployment of {where} runs at {when}.{note}",
    )  # fmt: skip
