"""Auto-ping: every tick, claim the servers due for a check and queue one ping job."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q

from devflow.core.jobs import enqueue
from devflow.core.models import JobTrigger
from devflow.servers.models import Server


def enqueue_due_pings(now: datetime) -> list[int]:
    """Claim due servers (a conditional update per row, so two schedulers never both do)."""
    due = (
        Server.objects.filter(ping_enabled=True)
        .filter(Q(next_ping_at__lte=now) | Q(next_ping_at__isnull=True))
        .values_list("pk", "next_ping_at", "ping_interval_seconds")
    )
    claimed = []
    for pk, next_at, interval in due:
        taken = (
            Server.objects.filter(pk=pk, next_ping_at=next_at).update(
                next_ping_at=now + timedelta(seconds=interval)
            )
            if next_at is not None
            else Server.objects.filter(pk=pk, next_ping_at__isnull=True).update(
                next_ping_at=now + timedelta(seconds=interval)
            )
        )
        if taken == 1:
            claimed.append(pk)
    if claimed:
        enqueue("servers.ping", trigger=JobTrigger.SCHEDULE, params={"server_ids": claimed})
    return claimed
