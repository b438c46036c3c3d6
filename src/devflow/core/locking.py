"""Per-target locks with a lease and holder info.

A lock row is unique by key. Taking a free key inserts it; taking an expired
lease is a conditional update that must change exactly one row, so two workers
never both believe they hold it. Holders renew the lease with their heartbeat.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from devflow.core.models import Job, Lock


class LockBusy(RuntimeError):
    """The key is held by someone else; the message names the holder."""

    def __init__(self, key: str, holder: str) -> None:
        super().__init__(f"{key} is locked by {holder}")
        self.key = key
        self.holder = holder


def acquire(
    key: str,
    *,
    holder: str,
    job: Job | None = None,
    lease_seconds: int = 60,
    wait_seconds: float = 0,
    poll_seconds: float = 0.25,
) -> Lock:
    """Take the lock on `key`, waiting up to `wait_seconds`; raise LockBusy otherwise."""
    deadline = time.monotonic() + wait_seconds
    while True:
        now = timezone.now()
        expires = now + timedelta(seconds=lease_seconds)
        try:
            with transaction.atomic():
                return Lock.objects.create(
                    key=key, holder=holder, holder_job=job, acquired_at=now, expires_at=expires
                )
        except IntegrityError:
            pass
        taken = Lock.objects.filter(key=key, expires_at__lt=now).update(
            holder=holder, holder_job=job, acquired_at=now, expires_at=expires
        )
        if taken == 1:
            return Lock.objects.get(key=key)
        if time.monotonic() >= deadline:
            current = Lock.objects.filter(key=key).values_list("holder", flat=True).first()
            raise LockBusy(key, current or "another holder")
        time.sleep(poll_seconds)


def renew(job: Job, lease_seconds: int) -> int:
    """Extend the leases of every lock `job` holds."""
    return Lock.objects.filter(holder_job=job).update(
        expires_at=timezone.now() + timedelta(seconds=lease_seconds)
    )


def release(key: str, *, holder: str) -> bool:
    """Release `key` if `holder` still holds it."""
    deleted, _ = Lock.objects.filter(key=key, holder=holder).delete()
    return deleted > 0


def release_for_job(job: Job | int) -> list[str]:
    """Release every lock `job` holds; return their keys."""
    locks = Lock.objects.filter(holder_job=job)
    keys = list(locks.values_list("key", flat=True))
    locks.delete()
    return keys


def is_held(key: str) -> bool:
    return Lock.objects.filter(key=key, expires_at__gte=timezone.now()).exists()
