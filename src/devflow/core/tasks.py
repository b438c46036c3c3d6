"""Celery tasks: thin wrappers over the job runner."""

from __future__ import annotations

from devflow.core.jobs import execute_job
from devflow.taskqueue import app


@app.task(name="devflow.run_job", ignore_result=True, acks_late=True)
def run_job(job_id: int) -> str:
    return execute_job(job_id)
