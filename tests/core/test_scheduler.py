"""The scheduler tick: atomic claims of due schedules, the reaper, orphan reconciliation."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from devflow.core import locking
from devflow.core.models import Job, JobStatus, JobTrigger, Lock, ScheduledJob
from devflow.core.scheduler import (
    claim_due_schedules,
    fail_forgotten_queued_jobs,
    next_run,
    reap_stale_jobs,
    reconcile_orphans,
)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):  # type: ignore[no-untyped-def]
    """Claims are what is tested here; record what would be sent to the queue."""
    sent: list[int] = []
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: sent.append(job.pk))
    return sent


@pytest.mark.django_db
def test_a_due_schedule_starts_one_job_and_moves_to_its_next_run(acme):
    now = timezone.now()
    schedule = ScheduledJob.objects.create(
        team=acme,
        name="every minute",
        kind="tests.steps",
        interval_seconds=60,
        next_run_at=now - timedelta(seconds=1),
    )
    jobs = claim_due_schedules(now)
    assert [job.kind for job in jobs] == ["tests.steps"]
    assert jobs[0].trigger == JobTrigger.SCHEDULE and jobs[0].team == acme
    schedule.refresh_from_db()
    assert schedule.next_run_at == now + timedelta(seconds=60)
    assert schedule.last_job == jobs[0]
    assert claim_due_schedules(now) == []


@pytest.mark.django_db
def test_disabled_and_future_schedules_do_not_run(acme):
    now = timezone.now()
    ScheduledJob.objects.create(
        team=acme,
        name="off",
        kind="tests.steps",
        interval_seconds=60,
        next_run_at=now,
        enabled=False,
    )
    ScheduledJob.objects.create(
        team=acme,
        name="later",
        kind="tests.steps",
        interval_seconds=60,
        next_run_at=now + timedelta(minutes=5),
    )
    assert claim_due_schedules(now) == []


def test_cron_schedules_follow_their_time_zone():
    schedule = ScheduledJob(
        name="nightly", kind="tests.steps", cron="0 2 * * *", timezone="Europe/Berlin"
    )
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # summer: Berlin is UTC+2
    assert next_run(schedule, after) == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # winter: UTC+1
    assert next_run(schedule, winter) == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_never_fire_the_same_row_twice(acme):
    now = timezone.now()
    ScheduledJob.objects.bulk_create(
        ScheduledJob(
            team=acme,
            name=f"s{i}",
            kind="tests.steps",
            interval_seconds=3600,
            next_run_at=now - timedelta(seconds=1),
        )
        for i in range(40)
    )
    barrier = threading.Barrier(4)
    started: list[list[int]] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            started.append([job.pk for job in claim_due_schedules(now)])
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(len(batch) for batch in started) == 40
    assert Job.objects.count() == 40
    assert ScheduledJob.objects.filter(next_run_at__lte=now).count() == 0


@pytest.mark.django_db
def test_the_reaper_fails_a_job_whose_heartbeat_stopped_and_frees_its_lock(acme, settings):
    settings.DEVFLOW_JOB_STALE_SECONDS = 30
    stale = Job.objects.create(
        team=acme,
        kind="tests.steps",
        status=JobStatus.RUNNING,
        worker="gone:1",
        heartbeat_at=timezone.now() - timedelta(seconds=45),
    )
    fresh = Job.objects.create(
        team=acme,
        kind="tests.steps",
        status=JobStatus.RUNNING,
        worker="alive:1",
        heartbeat_at=timezone.now(),
    )
    locking.acquire("project:1", holder=f"job #{stale.pk}", job=stale, lease_seconds=600)
    assert reap_stale_jobs() == [stale.pk]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in stale.error
    assert stale.log_lines.last().text == stale.error
    assert fresh.status == JobStatus.RUNNING
    assert not Lock.objects.filter(key="project:1").exists()


@pytest.mark.django_db
def test_worker_start_fails_jobs_of_dead_processes_on_this_host(acme):
    host = socket.gethostname()
    orphan = Job.objects.create(
        team=acme,
        kind="tests.steps",
        status=JobStatus.RUNNING,
        worker=f"{host}:999999",
        heartbeat_at=timezone.now(),
    )
    import os

    mine = Job.objects.create(
        team=acme,
        kind="tests.steps",
        status=JobStatus.RUNNING,
        worker=f"{host}:{os.getpid()}",
        heartbeat_at=timezone.now(),
    )
    assert reconcile_orphans() == [orphan.pk]
    orphan.refresh_from_db()
    mine.refresh_from_db()
    assert orphan.status == JobStatus.FAILED and "is gone" in orphan.error
    assert mine.status == JobStatus.RUNNING


@pytest.mark.django_db
def test_a_job_no_worker_picked_up_is_failed_with_a_hint(acme, settings):
    settings.DEVFLOW_JOB_QUEUED_MAX_SECONDS = 3600
    old = Job.objects.create(team=acme, kind="tests.steps")
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    recent = Job.objects.create(team=acme, kind="tests.steps")
    assert fail_forgotten_queued_jobs() == [old.pk]
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == JobStatus.FAILED
    assert "No worker picked this job up within 60 minutes" in old.error
    assert recent.status == JobStatus.QUEUED
