"""The one job base class and its runner.

A job kind implements only `run()`. The runner owns the lifecycle: it claims
the queued row, starts a heartbeat, takes the kind's lock, writes log lines in
batches, enforces the hard timeout, honours cancellation, records the final
status and releases its locks. The Celery task is a one-line wrapper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from devflow.core import locking
from devflow.core.crypto import MASK
from devflow.core.models import Job, JobLogLine, JobStatus, JobTrigger
from devflow.core.models.jobs import LogStream
from devflow.transport import local

logger = logging.getLogger(__name__)

JOB_KINDS: dict[str, type[JobKind]] = {}


class JobCancelled(Exception):
    """Raised inside run() once a user asked the job to stop."""


class JobTimedOut(Exception):
    """Raised inside run() once the kind's hard timeout has passed."""


class JobError(Exception):
    """A failure the user should read as-is (no traceback in the log)."""


class JobDeferred(Exception):
    """The lock is busy and the kind waits: the job goes back to the queue, held."""

    def __init__(self, lock_key: str, holder: str) -> None:
        super().__init__(lock_key)
        self.lock_key = lock_key
        self.holder = holder


def register(kind: type[JobKind]) -> type[JobKind]:
    """Register a job kind under its `name`."""
    if not kind.name:
        raise ValueError(f"{kind.__name__} has no name")
    JOB_KINDS[kind.name] = kind
    return kind


class JobKind:
    """Base class of every job kind. Subclasses set `name` and implement `run()`."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    timeout_seconds: ClassVar[int] = 3600
    # When the lock is busy: False fails the run, True puts it back in the queue, out of
    # any worker, until the holder releases the lock (no thread is tied up waiting).
    wait_for_lock: ClassVar[bool] = False
    # Routine runs (collections, notifications) are deleted this many days after they end.
    keep_days: ClassVar[int | None] = None

    def __init__(self, job: Job, runner: JobRunner) -> None:
        self.job = job
        self.params: dict[str, Any] = job.params
        self._runner = runner
        self._cleanups: list[Callable[[], None]] = []

    def on_finish(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the job ends, however it ends (close connections...)."""
        self._cleanups.append(callback)

    def finish(self) -> None:
        for callback in reversed(self._cleanups):
            try:
                callback()
            except Exception:
                logger.exception("cleanup of job %s failed", self.job.pk)
        self._cleanups.clear()

    def ended(self, status: str, error: str) -> None:
        """Called once the final status is saved (tell people; the status is now visible)."""

    def lock_key(self) -> str | None:
        """Return the key this run must hold exclusively (e.g. "project:12"), or None."""
        return None

    def waits_for_lock(self) -> bool:
        return self.wait_for_lock

    def run(self) -> dict[str, Any] | None:
        raise NotImplementedError

    # Helpers for run().
    def log(self, text: str, stream: str = LogStream.INFO) -> None:
        self._runner.log(text, stream)

    def progress(self, percent: int, message: str = "") -> None:
        self._runner.set_progress(percent, message)

    def check_cancelled(self) -> None:
        """Raise if the job was cancelled or timed out; call between steps."""
        self._runner.check_stop()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (e.g. terminate a running command) when the job must stop."""
        return self._runner.add_stop_callback(callback)

    def run_local(self, args: list[str], timeout: float | None = None) -> local.Result:
        """Run a command on this machine, its output going to the log; cancel terminates it."""
        removers: list[Callable[[], None]] = []

        def started(process: local.LocalProcess) -> None:
            removers.append(self.on_cancel(process.terminate))

        try:
            return local.run(
                args,
                on_line=lambda stream, line: self.log(line, stream),
                timeout=timeout,
                on_start=started,
            )
        finally:
            for remove in removers:
                remove()

    def redact(self, secret: str) -> None:
        """Mask `secret` in every later log line."""
        self._runner.add_secret(secret)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    """Run one job row through its lifecycle."""

    flush_every_seconds = 0.3
    flush_every_lines = 100

    def __init__(self, job: Job, kind_class: type[JobKind]) -> None:
        self.job = job
        self.kind_class = kind_class
        self._buffer: list[JobLogLine] = []
        self._buffer_lock = threading.Lock()
        self._next_seq = job.log_line_count
        self._last_flush = time.monotonic()
        self._stop = threading.Event()
        self._stop_reason: type[Exception] | None = None
        self._stop_callbacks: list[Callable[[], None]] = []
        self._secrets: list[str] = []
        self._heartbeat_done = threading.Event()

    # Logging -----------------------------------------------------------
    def add_secret(self, secret: str) -> None:
        if secret:
            self._secrets.append(secret)

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def log(self, text: str, stream: str = LogStream.INFO) -> None:
        with self._buffer_lock:
            for line in self._mask(text).splitlines() or [""]:
                self._buffer.append(
                    JobLogLine(
                        job_id=self.job.pk,
                        seq=self._next_seq,
                        stream=stream,
                        text=line,
                        at=timezone.now(),
                    )
                )
                self._next_seq += 1
        if _in_event_loop():
            return  # an SSH callback: no database calls here; the heartbeat thread flushes
        if (
            len(self._buffer) >= self.flush_every_lines
            or time.monotonic() - self._last_flush >= self.flush_every_seconds
        ):
            self.flush()

    def flush(self) -> None:
        with self._buffer_lock:
            lines, self._buffer = self._buffer, []
            count = self._next_seq
            self._last_flush = time.monotonic()
            if not lines:
                return
            JobLogLine.objects.bulk_create(lines)
            Job.objects.filter(pk=self.job.pk).update(log_line_count=count)

    def set_progress(self, percent: int, message: str = "") -> None:
        percent = max(0, min(100, int(percent)))
        Job.objects.filter(pk=self.job.pk).update(progress=percent, progress_message=message[:200])

    # Stopping ----------------------------------------------------------
    def add_stop_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._stop_callbacks.append(callback)

        def remove() -> None:
            if callback in self._stop_callbacks:
                self._stop_callbacks.remove(callback)

        if self._stop.is_set():
            callback()
        return remove

    def request_stop(self, reason: type[Exception]) -> None:
        if self._stop.is_set():
            return
        self._stop_reason = reason
        self._stop.set()
        for callback in list(self._stop_callbacks):
            try:
                callback()
            except Exception:
                logger.exception("stop callback of job %s failed", self.job.pk)

    def check_stop(self) -> None:
        if self._stop.is_set() and self._stop_reason is not None:
            raise self._stop_reason()

    # Heartbeat ---------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        """Every 0.5 s flush the log; every second look for a cancel; beat every interval."""
        interval = settings.DEVFLOW_JOB_HEARTBEAT_SECONDS
        deadline = time.monotonic() + self.job.timeout_seconds
        last_beat = last_check = time.monotonic()
        try:
            while not self._heartbeat_done.wait(0.5):
                now = time.monotonic()
                try:
                    if now >= deadline:
                        self.request_stop(JobTimedOut)
                    if now - last_beat >= interval:
                        last_beat = now
                        self._beat()
                    if now - last_check >= 1 and not self._stop.is_set():
                        last_check = now
                        self._check_cancel_requested()
                    if self._buffer and now - self._last_flush >= self.flush_every_seconds:
                        self.flush()
                except Exception:
                    logger.exception("heartbeat of job %s failed", self.job.pk)
        finally:
            connection.close()

    def _beat(self) -> None:
        Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        locking.renew(self.job, lease_seconds=settings.DEVFLOW_JOB_STALE_SECONDS * 2)

    def _check_cancel_requested(self) -> None:
        row = Job.objects.filter(pk=self.job.pk).values("cancel_requested_at", "status").get()
        if row["cancel_requested_at"] is not None:
            self.request_stop(JobCancelled)
        elif row["status"] != JobStatus.RUNNING:
            # The reaper gave up on us (we looked dead): stop doing work.
            self.request_stop(JobCancelled)

    # Lifecycle ---------------------------------------------------------
    def _outcome(self, exc: Exception) -> tuple[str, str]:
        """Turn what run() raised into a final status and the message the user reads."""
        if self._stop_reason is JobTimedOut or isinstance(exc, JobTimedOut):
            return JobStatus.TIMED_OUT, (
                f"Stopped after the hard timeout of {self.job.timeout_seconds} s."
            )
        if self._stop_reason is JobCancelled or isinstance(exc, JobCancelled):
            # Whatever the terminated command raised, the cause is the request to stop.
            return JobStatus.CANCELLED, "Cancelled by request."
        if isinstance(exc, JobError):
            return JobStatus.FAILED, str(exc)
        self.log(traceback.format_exc(), LogStream.STDERR)
        return JobStatus.FAILED, f"{type(exc).__name__}: {exc}"

    def _take_lock(self, kind: JobKind, lock_key: str) -> None:
        try:
            locking.acquire(
                lock_key,
                holder=f"job #{self.job.pk}",
                job=self.job,
                lease_seconds=settings.DEVFLOW_JOB_STALE_SECONDS * 2,
            )
        except locking.LockBusy as busy:
            if not kind.waits_for_lock():
                raise JobError(f"Cannot start: {busy}.") from None
            raise JobDeferred(lock_key, busy.holder) from None

    def _defer(self, deferred: JobDeferred) -> None:
        """Put the job back in the queue, held until `deferred.lock_key` is released."""
        self.log(f"Waiting in the queue: {deferred.holder} holds {deferred.lock_key}.")
        self.flush()
        Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED,
            waiting_for=deferred.lock_key,
            worker="",
            started_at=None,
            heartbeat_at=None,
            progress_message=f"Waiting for {deferred.holder} to finish"[:200],
        )
        if not locking.is_held(deferred.lock_key):
            wake_waiters([deferred.lock_key])  # released while we were deferring

    def run(self) -> None:
        job = self.job
        heartbeat = threading.Thread(target=self._heartbeat_loop, name=f"job-{job.pk}-heartbeat")
        heartbeat.daemon = True
        heartbeat.start()
        status: str = JobStatus.SUCCEEDED
        error, result = "", None
        kind: JobKind | None = None
        deferred: JobDeferred | None = None
        try:
            kind = self.kind_class(job, self)
            lock_key = kind.lock_key()
            if lock_key:
                self._take_lock(kind, lock_key)
            self.log(f"Started {self.kind_class.label or job.kind} on {job.worker}.")
            result = kind.run()
            self.check_stop()
        except JobDeferred as wait:
            deferred = wait
        except Exception as exc:
            status, error = self._outcome(exc)
        finally:
            if kind is not None:
                kind.finish()
            self._heartbeat_done.set()
            heartbeat.join(timeout=5)
        if deferred is not None:
            self._defer(deferred)
            return
        if error:
            self.log(error, LogStream.STDERR)
        self.log(f"Finished: {JobStatus(status).label}.")
        self.flush()
        final: dict[str, Any] = {
            "status": status,
            "error": error[:5000],
            "result": result or {},
            "finished_at": timezone.now(),
        }
        if status == JobStatus.SUCCEEDED:
            final["progress"] = 100
        with transaction.atomic():  # the final status and the freed locks appear together
            finished = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(**final)
            released = locking.release_for_job(job)
        if finished == 0:
            logger.warning("job %s was finished by someone else (reaper?)", job.pk)
        wake_waiters(released)
        if finished and kind is not None:
            try:
                kind.ended(status, error)
            except Exception:
                logger.exception("job %s: after-finish step failed", job.pk)


def execute_job(job_id: int) -> str:
    """Claim the queued job `job_id` and run it; return its final status."""
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        worker=worker_name(),
    )
    if claimed != 1:
        # Cancelled while queued, or already taken by another worker.
        return Job.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"
    job = Job.objects.get(pk=job_id)
    kind_class = JOB_KINDS.get(job.kind)
    if kind_class is None:
        Job.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            error=f"Unknown job kind {job.kind!r} on this worker.",
            finished_at=timezone.now(),
        )
        return JobStatus.FAILED
    JobRunner(job, kind_class).run()
    return Job.objects.values_list("status", flat=True).get(pk=job_id)


def wake_waiters(lock_keys: list[str]) -> list[int]:
    """Send the oldest job held for each freed lock back to the workers; return their ids."""
    woken = []
    for key in lock_keys:
        waiting = (
            Job.objects.filter(status=JobStatus.QUEUED, waiting_for=key)
            .order_by("created_at", "id")
            .first()
        )
        # The conditional update makes the wake-up exclusive (two releasers, two schedulers).
        if waiting and Job.objects.filter(pk=waiting.pk, waiting_for=key).update(waiting_for=""):
            send_to_queue(waiting)
            woken.append(waiting.pk)
    return woken


def enqueue(
    kind: str,
    *,
    team: Any = None,
    actor: Any = None,
    trigger: str = JobTrigger.WEB,
    target: Any = None,
    params: dict[str, Any] | None = None,
    timeout_seconds: int | None = None,
) -> Job:
    """Write a queued job row and send it to the queue once the transaction commits."""
    kind_class = JOB_KINDS.get(kind)
    if kind_class is None:
        raise ValueError(f"Unknown job kind {kind!r}.")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    job = Job.objects.create(
        team=team,
        kind=kind,
        trigger=trigger,
        actor=actor,
        target_type=(target._meta.model_name or "") if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:200] if target is not None else "",
        params=params or {},
        timeout_seconds=timeout_seconds or kind_class.timeout_seconds,
    )
    transaction.on_commit(lambda: send_to_queue(job))
    return job


def send_to_queue(job: Job) -> None:
    """Publish the job; if the broker is unreachable, fail the row with a clear message."""
    from devflow.core.tasks import run_job

    try:
        run_job.apply_async(args=(job.pk,), retry=True, retry_policy={"max_retries": 2})
    except Exception as exc:
        message = f"Could not queue the job: the broker is unreachable ({exc})."
        logger.error("job %s: %s", job.pk, message)
        Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED, error=message, finished_at=timezone.now()
        )


def request_cancel(job: Job) -> str:
    """Cancel a queued job at once, or ask a running one to stop; return the new status."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED,
        finished_at=now,
        cancel_requested_at=now,
        error="Cancelled before it started.",
    ):
        return JobStatus.CANCELLED
    Job.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now)
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def log_update(job_id: int, after: int, limit: int = 1000) -> dict[str, Any]:
    """Return the log lines after `after` and the job's state, for live views."""
    from devflow.core.models.jobs import STATUS_COLOURS

    lines = list(
        JobLogLine.objects.filter(job_id=job_id, seq__gt=after)
        .order_by("seq")
        .values("seq", "stream", "text")[:limit]
    )
    row = Job.objects.values("status", "progress", "progress_message").get(pk=job_id)
    status = JobStatus(row["status"])
    job: dict[str, Any] = {**row, "status_label": status.label, "colour": STATUS_COLOURS[status]}
    return {"lines": lines, "job": job}


def purge_routine_jobs(now: datetime | None = None) -> int:
    """Delete finished runs of routine kinds past their `keep_days` (logs go with them)."""
    now = now or timezone.now()
    deleted = 0
    for name, kind in JOB_KINDS.items():
        if kind.keep_days is None:
            continue
        old = Job.objects.filter(
            kind=name,
            status__in=JobStatus.finished(),
            finished_at__lt=now - timedelta(days=kind.keep_days),
        )
        deleted += old.delete()[0]
    return deleted
