"""Routine runs (collections, notifications) are forgotten after their kind's keep_days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devflow.core.jobs import purge_routine_jobs
from devflow.core.models import Job, JobLogLine, JobStatus

pytestmark = pytest.mark.django_db


def _job(kind: str, status: str, days_ago: float) -> Job:
    job = Job.objects.create(kind=kind, status=status)
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days_ago))
    JobLogLine.objects.create(job=job, seq=1, text="hello", at=timezone.now())
    return job


def test_old_routine_runs_go_and_everything_else_stays() -> None:
    old_collect = _job("monitoring.collect", JobStatus.SUCCEEDED, 3)
    fresh_collect = _job("monitoring.collect", JobStatus.SUCCEEDED, 1)
    old_notify = _job("notifications.deliver", JobStatus.FAILED, 8)
    old_deploy = _job("deployments.deploy", JobStatus.SUCCEEDED, 400)
    running = Job.objects.create(kind="monitoring.collect", status=JobStatus.RUNNING)

    assert purge_routine_jobs() >= 2

    left = set(Job.objects.values_list("pk", flat=True))
    assert left == {fresh_collect.pk, old_deploy.pk, running.pk}
    assert old_collect.pk not in left and old_notify.pk not in left
    assert not JobLogLine.objects.filter(job_id=old_collect.pk).exists()
