from __future__ import annotations

from devflow.core.models.activity import ActivityLog, ActivityResult, ActivitySource
from devflow.core.models.jobs import Job, JobLogLine, JobStatus, JobTrigger
from devflow.core.models.locks import Lock
from devflow.core.models.schedules import ScheduledJob

__all__ = [
    "ActivityLog",
    "ActivityResult",
    "ActivitySource",
    "Job",
    "JobLogLine",
    "JobStatus",
    "JobTrigger",
    "Lock",
    "ScheduledJob",
]
