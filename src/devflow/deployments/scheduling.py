"""Deployments scheduled for a date and time in a time zone (maintenance windows).

The scheduler tick claims a due schedule with a conditional update inside the
same transaction that queues its deployment, so with two schedulers running a
schedule fires exactly once: the second one's update matches no row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from devflow.core import audit
from devflow.core.models import ActivitySource
from devflow.deployments import notices, services
from devflow.deployments.models import DeployTrigger, ScheduledDeployment, ScheduleStatus
from devflow.projects.models import Environment
from devflow.projects.services import ProjectError

logger = logging.getLogger(__name__)

MAX_REMINDER_MINUTES = 7 * 24 * 60


def zone_names() -> list[str]:
    return sorted(available_timezones())


def to_utc(local: datetime, zone_name: str) -> datetime:
    """Read `local` (naive) as wall-clock time in `zone_name`; refuse times that do not exist."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProjectError(f"Unknown time zone {zone_name!r}.") from None
    naive = local.replace(tzinfo=None, second=0, microsecond=0)
    aware = naive.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise ProjectError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks skip that hour "
            "(daylight saving time). Pick a time outside the gap."
        )
    return aware.astimezone(UTC)


def _validate(run_at: datetime, remind_minutes_before: int) -> None:
    if run_at <= timezone.now() + timedelta(seconds=30):
        raise ProjectError("That time is in the past; pick a time from a minute from now on.")
    if not 0 <= remind_minutes_before <= MAX_REMINDER_MINUTES:
        raise ProjectError("The reminder must be between 0 minutes and 7 days before.")


@transaction.atomic
def schedule_deployment(
    actor: Any,
    environment: Environment,
    local_time: datetime,
    zone_name: str,
    *,
    remind_minutes_before: int = 15,
    note: str = "",
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> ScheduledDeployment:
    run_at = to_utc(local_time, zone_name)
    _validate(run_at, remind_minutes_before)
    schedule = ScheduledDeployment.objects.create(
        team=environment.project.team,
        environment=environment,
        run_at=run_at,
        timezone=zone_name,
        remind_minutes_before=remind_minutes_before,
        note=note.strip()[:200],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        "deployment.scheduled",
        actor=actor,
        team=schedule.team,
        target=schedule,
        request=request,
        source=source,
        details={"environment": environment.name, "run_at": run_at.isoformat(), "tz": zone_name},
    )
    return schedule


@transaction.atomic
def update_schedule(
    actor: Any,
    schedule: ScheduledDeployment,
    local_time: datetime,
    zone_name: str,
    *,
    remind_minutes_before: int,
    note: str = "",
    request: HttpRequest | None = None,
) -> ScheduledDeployment:
    run_at = to_utc(local_time, zone_name)
    _validate(run_at, remind_minutes_before)
    changed = ScheduledDeployment.objects.filter(
        pk=schedule.pk, status=ScheduleStatus.PENDING
    ).update(
        run_at=run_at,
        timezone=zone_name,
        remind_minutes_before=remind_minutes_before,
        note=note.strip()[:200],
        reminded_at=None,
    )
    if not changed:
        raise ProjectError("This scheduled deployment has already started or was cancelled.")
    schedule.refresh_from_db()
    audit.record(
        "deployment.schedule_changed", actor=actor, team=schedule.team, target=schedule,
        request=request, details={"run_at": run_at.isoformat(), "tz": zone_name},
    )  # fmt: skip
    return schedule


@transaction.atomic
def cancel_schedule(
    actor: Any, schedule: ScheduledDeployment, *, request: HttpRequest | None = None
) -> None:
    changed = ScheduledDeployment.objects.filter(
        pk=schedule.pk, status=ScheduleStatus.PENDING
    ).update(status=ScheduleStatus.CANCELLED)
    if not changed:
        raise ProjectError("This scheduled deployment has already started or was cancelled.")
    audit.record(
        "deployment.schedule_cancelled", actor=actor, team=schedule.team, target=schedule,
        request=request,
    )  # fmt: skip


def local_run_at(schedule: ScheduledDeployment) -> datetime:
    return schedule.run_at.astimezone(ZoneInfo(schedule.timezone))


def send_reminders(now: datetime) -> int:
    """Note an upcoming deployment in the activity feed once, N minutes before it runs."""
    sent = 0
    horizon = now + timedelta(minutes=MAX_REMINDER_MINUTES)
    upcoming = ScheduledDeployment.objects.filter(
        status=ScheduleStatus.PENDING, reminded_at__isnull=True, run_at__lte=horizon
    ).select_related("environment__project", "team")
    for schedule in upcoming:
        if schedule.remind_minutes_before == 0:
            continue
        if schedule.run_at - timedelta(minutes=schedule.remind_minutes_before) > now:
            continue
        with transaction.atomic():
            claimed = ScheduledDeployment.objects.filter(
                pk=schedule.pk, status=ScheduleStatus.PENDING, reminded_at__isnull=True
            ).update(reminded_at=now)
            if not claimed:
                continue
            minutes = max(0, int((schedule.run_at - now).total_seconds() // 60))
            audit.record(
                "deployment.reminder",
                team=schedule.team,
                target=schedule,
                source=ActivitySource.SCHEDULE,
                details={
                    "environment": str(schedule.environment),
                    "run_at": schedule.run_at.isoformat(),
                    "minutes": minutes,
                },
            )
            notices.announce_reminder(schedule, minutes, local_run_at(schedule))
        sent += 1
    return sent


def fire_due(now: datetime) -> list[int]:
    """Start every due schedule once; return the ids of the deployments started."""
    started = []
    due = ScheduledDeployment.objects.filter(status=ScheduleStatus.PENDING, run_at__lte=now)
    for schedule in due.select_related("environment__project", "created_by"):
        try:
            with transaction.atomic():
                claimed = ScheduledDeployment.objects.filter(
                    pk=schedule.pk, status=ScheduleStatus.PENDING
                ).update(status=ScheduleStatus.FIRED)
                if not claimed:
                    continue  # another scheduler fired it
                deployment = services.request_deployment(
                    schedule.created_by,
                    schedule.environment,
                    trigger=DeployTrigger.SCHEDULE,
                    if_busy="wait",
                )
                ScheduledDeployment.objects.filter(pk=schedule.pk).update(deployment=deployment)
                started.append(deployment.pk)
        except ProjectError as error:
            ScheduledDeployment.objects.filter(pk=schedule.pk).update(
                status=ScheduleStatus.FIRED, error=str(error)[:500]
            )
            audit.record(
                "deployment.schedule_failed", team=schedule.team, target=schedule,
                source=ActivitySource.SCHEDULE, result="failure", details={"error": str(error)},
            )  # fmt: skip
    return started


def tick(now: datetime) -> None:
    send_reminders(now)
    fire_due(now)
