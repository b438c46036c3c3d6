"""Real Celery workers in other processes, on the embedded broker and on Redis."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import transaction
from django.utils import timezone

from devflow.core.jobs import enqueue
from devflow.core.models import Job, JobStatus, Lock
from devflow.core.scheduler import reap_stale_jobs
from devflow.taskqueue import app

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(request, redis_url, settings):  # type: ignore[no-untyped-def]
    """Point this process's Celery app at the broker under test (the worker gets the same)."""
    kind = request.param
    previous = (app.conf.broker_url, dict(app.conf.broker_transport_options))
    reset_connections()
    if kind == "redis":
        app.conf.broker_url = redis_url
        app.conf.broker_transport_options = {}
    else:
        from devflow.taskqueue import ensure_broker_dirs

        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        ensure_broker_dirs()
    yield redis_url if kind == "redis" else None
    app.conf.broker_url, app.conf.broker_transport_options = previous
    reset_connections()


def reset_connections() -> None:
    """Drop pooled broker connections so the next publish uses the current broker URL."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def wait_for_status(job: Job, statuses: set[str], worker, timeout: float = 60) -> Job:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        if worker.process.poll() is not None and worker.process.returncode not in (None, -9):
            raise AssertionError(f"worker exited early:\n{worker.log()}")
        time.sleep(0.1)
    raise AssertionError(f"job #{job.pk} is {job.status}; worker log:\n{worker.log()}")


@pytest.mark.parametrize("broker", ["embedded", "redis"], indirect=True)
def test_a_worker_runs_a_job_and_the_database_holds_its_status_and_log(
    broker, start_worker, acme, alice
):
    worker = start_worker(redis=broker)
    with transaction.atomic():
        job = enqueue("core.diagnostics", team=acme, actor=alice)
    job = wait_for_status(job, {JobStatus.SUCCEEDED, JobStatus.FAILED}, worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    lines = list(job.log_lines.values_list("text", flat=True))
    assert any(line.startswith("Database: ") for line in lines)
    assert lines[-1] == "Finished: Succeeded."
    assert job.result["database"] in ("sqlite", "postgresql")


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_killed_worker_is_detected_by_the_reaper_which_frees_the_lock(
    broker, start_worker, acme, alice, settings
):
    settings.DEVFLOW_JOB_STALE_SECONDS = 3
    worker = start_worker(redis=broker)
    with transaction.atomic():
        job = enqueue(
            "tests.steps",
            team=acme,
            actor=alice,
            params={"steps": 600, "pause": 0.1, "lock": "project:42"},
        )
    wait_for_status(job, {JobStatus.RUNNING}, worker)
    deadline = time.monotonic() + 30
    while not Lock.objects.filter(key="project:42").exists():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.05)

    worker.kill(signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nobody has noticed yet

    deadline = time.monotonic() + 60
    reaped: list[int] = []
    while not reaped:
        assert time.monotonic() < deadline, "the reaper never failed the job"
        time.sleep(0.5)
        reaped = reap_stale_jobs(timezone.now())
    job.refresh_from_db()
    assert reaped == [job.pk]
    assert job.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in job.error
    assert not Lock.objects.filter(key="project:42").exists()
