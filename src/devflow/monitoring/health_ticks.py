"""Scheduler tick hook: claim the due health checks and queue one job that runs them all.

Results older than the longest chart are purged once an hour, by whichever scheduler
takes the hour's lease.
"""

from __future__ import annotations

from datetime import datetime

from devflow.core import locking
from devflow.core.jobs import enqueue
from devflow.core.models import JobTrigger
from devflow.monitoring import health

PURGE_EVERY_SECONDS = 3600


def tick(now: datetime) -> list[str]:
    queued = []
    claimed = health.claim_due(now)
    if claimed:
        enqueue(health.JOB_KIND, trigger=JobTrigger.SCHEDULE, params={"check_ids": claimed})
        queued.append(health.JOB_KIND)
    try:
        locking.acquire(
            "schedule:monitoring.health_purge",
            holder="scheduler",
            lease_seconds=PURGE_EVERY_SECONDS,
        )
    except locking.LockBusy:
        return queued
    enqueue("monitoring.health_purge", trigger=JobTrigger.SCHEDULE)
    queued.append("monitoring.health_purge")
    return queued
