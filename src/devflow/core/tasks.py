"""Celery tasks: thin wrappers over the job runner."""

from __future__ import annotations

from django.db import close_old_connections

from devflow.core.jobs import execute_job
from devflow.taskqueue import app


@app.task(name="devflow.run_job", ignore_result=True, acks_late=True)
def run_job(job_id: int) -> str:
    close_old_connections()
    return execute_job(job_id)
