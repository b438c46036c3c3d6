"""The job runner in this process: lifecycle, log, progress, cancel, timeout, locks."""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from django.db import connection

from devflow.core import locking
from devflow.core.crypto import MASK
from devflow.core.jobs import enqueue, execute_job, request_cancel
from devflow.core.models import Job, JobStatus, Lock

pytestmark = pytest.mark.django_db(transaction=True)


def make_job(team, kind: str, **params) -> Job:  # type: ignore[no-untyped-def]
    return Job.objects.create(team=team, kind=kind, params=params, timeout_seconds=60)


def log_of(job: Job) -> list[str]:
    return list(job.log_lines.order_by("seq").values_list("text", flat=True))


def in_thread(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met")
        time.sleep(0.05)


def test_a_job_runs_to_success_with_log_progress_and_result(acme):
    job = make_job(acme, "tests.steps", steps=3)
    assert execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress == 100
    assert job.result == {"steps": 3}
    assert job.started_at and job.finished_at and job.worker
    lines = log_of(job)
    assert "step 1 of 3" in lines and "step 3 of 3" in lines
    assert lines[-1] == "Finished: Succeeded."
    assert job.log_line_count == len(lines)


def test_an_exception_fails_the_job_with_its_traceback_in_the_log(acme):
    job = make_job(acme, "tests.broken")
    assert execute_job(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "ZeroDivisionError: the job divided by zero"
    assert any("Traceback" in line for line in log_of(job))


def test_an_unknown_kind_fails_clearly(acme):
    job = make_job(acme, "no.such.kind")
    assert execute_job(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert "Unknown job kind 'no.such.kind'" in job.error


def test_a_job_is_claimed_only_once(acme):
    job = make_job(acme, "tests.steps", steps=1)
    assert execute_job(job.pk) == JobStatus.SUCCEEDED
    # A redelivered message finds it no longer queued and does nothing.
    assert execute_job(job.pk) == JobStatus.SUCCEEDED
    assert log_of(job).count("step 1 of 1") == 1


def test_secrets_are_masked_in_the_log(acme):
    job = make_job(acme, "tests.steps", steps=1, secret="hunter2-token")
    execute_job(job.pk)
    text = "\n".join(log_of(job))
    assert "hunter2-token" not in text
    assert f"using token {MASK} now" in text


def test_cancelling_a_queued_job_stops_it_before_it_starts(acme):
    job = make_job(acme, "tests.steps")
    assert request_cancel(job) == JobStatus.CANCELLED
    assert execute_job(job.pk) == JobStatus.CANCELLED
    assert log_of(job) == []


def test_cancelling_a_running_job_terminates_its_command(acme, settings):
    settings.DEVFLOW_JOB_HEARTBEAT_SECONDS = 1
    marker = f"devflow-cancel-{time.time_ns()}"
    job = make_job(acme, "tests.long_command", marker=marker)
    thread = in_thread(lambda: execute_job(job.pk))

    def sleeping() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][0] == marker
        ]

    wait_until(lambda: bool(sleeping()))
    request_cancel(Job.objects.get(pk=job.pk))
    thread.join(timeout=30)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.error == "Cancelled by request."
    assert sleeping() == []


def test_a_job_past_its_hard_timeout_is_stopped(acme):
    job = Job.objects.create(team=acme, kind="tests.short_timeout", timeout_seconds=1)
    assert execute_job(job.pk) == JobStatus.TIMED_OUT
    job.refresh_from_db()
    assert job.error == "Stopped after the hard timeout of 1 s."


def test_a_locked_target_fails_the_second_job_naming_the_holder(acme):
    locking.acquire("project:7", holder="job #999")
    job = make_job(acme, "tests.steps", lock="project:7")
    assert execute_job(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "Cannot start: project:7 is locked by job #999."


def test_the_lock_is_held_while_running_and_released_after(acme):
    job = make_job(acme, "tests.steps", lock="project:8", steps=20, pause=0.05)
    thread = in_thread(lambda: execute_job(job.pk))
    wait_until(lambda: Lock.objects.filter(key="project:8").exists())
    assert Lock.objects.get(key="project:8").holder == f"job #{job.pk}"
    thread.join(timeout=30)
    assert not Lock.objects.filter(key="project:8").exists()


def test_broker_down_at_enqueue_fails_the_job_with_a_clear_message(acme, alice):
    from devflow.taskqueue import app
    from tests.services.test_celery_workers import reset_connections

    previous = app.conf.broker_url
    reset_connections()
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        from django.db import transaction

        with transaction.atomic():
            job = enqueue("tests.steps", team=acme, actor=alice)
    finally:
        app.conf.broker_url = previous
        reset_connections()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("Could not queue the job: the broker is unreachable")
