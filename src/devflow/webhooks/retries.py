"""Scheduler tick: retry deliveries whose deployment could not be queued; drop old ones."""

from __future__ import annotations

import logging
from datetime import datetime

from devflow.webhooks import services
from devflow.webhooks.models import Decision, Delivery

logger = logging.getLogger(__name__)


def retry_due(now: datetime) -> list[int]:
    retried = []
    due = Delivery.objects.filter(decision=Decision.RETRYING, next_attempt_at__lte=now)
    for delivery in due.order_by("next_attempt_at")[:50]:
        # Claim it: a second scheduler's update matches nothing.
        claimed = Delivery.objects.filter(
            pk=delivery.pk, decision=Decision.RETRYING, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=None)
        if claimed:
            services.retry(delivery)
            retried.append(delivery.pk)
    return retried


def tick(now: datetime) -> None:
    retry_due(now)
    services.purge_old(now)
