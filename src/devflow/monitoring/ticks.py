"""Scheduler tick hook: queue a collection and a roll-up once a minute, across schedulers.

A lock with a one-interval lease is the claim: whichever scheduler takes it queues
the jobs, and nobody can take it again until the lease runs out.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from devflow.core import locking
from devflow.core.jobs import enqueue
from devflow.core.models import JobTrigger


def tick(now: datetime) -> list[str]:
    interval = settings.DEVFLOW_METRICS_INTERVAL_SECONDS
    queued = []
    for kind in ("monitoring.collect", "monitoring.rollup", "monitoring.alerts"):
        try:
            # Slightly under the interval, so a tick landing a moment early still counts.
            locking.acquire(f"schedule:{kind}", holder="scheduler", lease_seconds=interval - 1)
        except locking.LockBusy:
            continue
        enqueue(kind, trigger=JobTrigger.SCHEDULE)
        queued.append(kind)
    return queued
