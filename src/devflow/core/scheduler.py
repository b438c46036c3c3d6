"""The scheduler tick: claim due schedules atomically, and reap jobs whose worker died."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from devflow.core import locking
from devflow.core.jobs import enqueue, purge_routine_jobs, wake_waiters
from devflow.core.models import Job, JobLogLine, JobStatus, JobTrigger, Lock, ScheduledJob
from devflow.core.models.jobs import LogStream

logger = logging.getLogger(__name__)

# Apps add work to every tick (e.g. servers: enqueue due pings); each hook claims its own rows.
TICK_HOOKS: list[Callable[[datetime], object]] = []


def register_tick_hook(hook: Callable[[datetime], object]) -> None:
    if hook not in TICK_HOOKS:
        TICK_HOOKS.append(hook)


def next_run(schedule: ScheduledJob, after: datetime) -> datetime:
    """Return the next time `schedule` is due after `after`."""
    if schedule.interval_seconds:
        return after + timedelta(seconds=schedule.interval_seconds)
    zone = ZoneInfo(schedule.timezone or "UTC")
    local = after.astimezone(zone)
    return croniter(schedule.cron, local).get_next(datetime).astimezone(ZoneInfo("UTC"))


def claim_due_schedules(now: datetime | None = None) -> list[Job]:
    """Enqueue one job per due schedule; a conditional update makes each claim exclusive."""
    now = now or timezone.now()
    started = []
    due = ScheduledJob.objects.filter(enabled=True, next_run_at__lte=now).select_related("team")
    for schedule in due:
        claimed = ScheduledJob.objects.filter(
            pk=schedule.pk, enabled=True, next_run_at=schedule.next_run_at
        ).update(next_run_at=next_run(schedule, now), last_run_at=now)
        if claimed != 1:
            continue  # another scheduler took it
        job = enqueue(
            schedule.kind,
            team=schedule.team,
            actor=schedule.created_by,
            trigger=JobTrigger.SCHEDULE,
            params=schedule.params,
        )
        ScheduledJob.objects.filter(pk=schedule.pk).update(last_job=job)
        started.append(job)
    return started


@transaction.atomic
def _fail(job: Job, message: str) -> bool:
    """Fail a running job and free its locks together (one transaction)."""
    now = timezone.now()
    failed = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message, finished_at=now
    )
    if failed:
        seq = Job.objects.values_list("log_line_count", flat=True).get(pk=job.pk)
        JobLogLine.objects.create(job=job, seq=seq, stream=LogStream.STDERR, text=message, at=now)
        Job.objects.filter(pk=job.pk).update(log_line_count=F("log_line_count") + 1)
        locking.release_for_job(job)
    return failed == 1


def reap_stale_jobs(now: datetime | None = None) -> list[int]:
    """Fail running jobs whose heartbeat stopped, and release their locks."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DEVFLOW_JOB_STALE_SECONDS)
    reaped = []
    stale = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    for job in stale:
        message = (
            f"The worker {job.worker} stopped sending heartbeats "
            f"(last at {job.heartbeat_at:%H:%M:%S} UTC): it was killed or crashed."
        )
        if _fail(job, message):
            reaped.append(job.pk)
    Lock.objects.filter(expires_at__lt=now).delete()
    return reaped


def fail_forgotten_queued_jobs(now: datetime | None = None) -> list[int]:
    """Fail queued jobs no worker picked up in time (lost message, no worker running)."""
    now = now or timezone.now()
    limit = settings.DEVFLOW_JOB_QUEUED_MAX_SECONDS
    cutoff = now - timedelta(seconds=limit)
    forgotten = list(
        Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    failed = []
    for pk in forgotten:
        if Job.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED,
            finished_at=now,
            error=(
                f"No worker picked this job up within {limit // 60} minutes: is a worker "
                "running (`devflow worker`), and is it using the same broker?"
            ),
        ):
            failed.append(pk)
    return failed


def reconcile_orphans() -> list[int]:
    """At worker start, fail running jobs of dead worker processes on this host."""
    host = socket.gethostname()
    orphans = []
    for job in Job.objects.filter(status=JobStatus.RUNNING, worker__startswith=f"{host}:"):
        pid_text = job.worker.rsplit(":", 1)[-1]
        if pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        if _fail(job, f"The worker {job.worker} is gone (restarted): job marked failed."):
            orphans.append(job.pk)
    return orphans


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wake_stranded_waiters() -> list[int]:
    """Held jobs whose lock is free (its holder was reaped, say) go back to the workers."""
    keys = set(
        Job.objects.filter(status=JobStatus.QUEUED)
        .exclude(waiting_for="")
        .values_list("waiting_for", flat=True)
    )
    free = [key for key in sorted(keys) if not locking.is_held(key)]
    return wake_waiters(free)


def _purge_hourly() -> None:
    try:
        locking.acquire("schedule:purge-jobs", holder="scheduler", lease_seconds=3600)
    except locking.LockBusy:
        return
    purge_routine_jobs()


def tick() -> dict[str, list[int]]:
    """One scheduler tick: claim due schedules, reap stale jobs, wake held jobs."""
    jobs = claim_due_schedules()
    reaped = reap_stale_jobs()
    forgotten = fail_forgotten_queued_jobs()
    wake_stranded_waiters()
    _purge_hourly()
    for hook in TICK_HOOKS:
        try:
            hook(timezone.now())
        except Exception:
            logger.exception("tick hook %s failed", hook.__name__)
    if jobs or reaped or forgotten:
        logger.info(
            "tick: enqueued %s, reaped %s, never picked up %s",
            [j.pk for j in jobs],
            reaped,
            forgotten,
        )
    return {"enqueued": [j.pk for j in jobs], "reaped": reaped, "forgotten": forgotten}


def run_forever(stop: threading.Event | None = None) -> None:
    """Tick every DEVFLOW_SCHEDULER_TICK_SECONDS until `stop` is set."""
    stop = stop or threading.Event()
    interval = settings.DEVFLOW_SCHEDULER_TICK_SECONDS
    logger.info("scheduler ticking every %s s", interval)
    while not stop.is_set():
        try:
            close_old_connections()
            tick()
        except Exception:
            logger.exception("scheduler tick failed")
        stop.wait(interval)
