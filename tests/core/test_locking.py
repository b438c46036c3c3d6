from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devflow.core import locking
from devflow.core.models import Lock


@pytest.mark.django_db
def test_a_held_lock_refuses_another_holder_and_names_the_holder():
    locking.acquire("project:1", holder="job #1")
    with pytest.raises(locking.LockBusy, match="project:1 is locked by job #1"):
        locking.acquire("project:1", holder="job #2")


@pytest.mark.django_db
def test_a_released_lock_can_be_taken_again():
    locking.acquire("project:1", holder="job #1")
    assert locking.release("project:1", holder="job #1")
    assert locking.acquire("project:1", holder="job #2").holder == "job #2"


@pytest.mark.django_db
def test_release_by_a_non_holder_does_nothing():
    locking.acquire("project:1", holder="job #1")
    assert not locking.release("project:1", holder="job #2")
    assert Lock.objects.get(key="project:1").holder == "job #1"


@pytest.mark.django_db
def test_an_expired_lease_is_taken_over():
    locking.acquire("project:1", holder="job #1", lease_seconds=60)
    Lock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert locking.acquire("project:1", holder="job #2").holder == "job #2"
    assert Lock.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_waiting_caller_gets_the_lock_once_it_is_released():
    import threading

    locking.acquire("project:1", holder="job #1")
    from django.db import connection

    def release_later() -> None:
        locking.release("project:1", holder="job #1")
        connection.close()

    timer = threading.Timer(0.3, release_later)
    timer.start()
    lock = locking.acquire("project:1", holder="job #2", wait_seconds=20, poll_seconds=0.05)
    timer.join()
    assert lock.holder == "job #2"
