"""The bulk action job: every selected server in parallel, one result row each."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from devflow.core.jobs import JobError, JobKind, register
from devflow.core.models.jobs import LogStream
from devflow.servers import bulk, services
from devflow.servers.actions import UnsupportedSystem
from devflow.servers.bulk import BULK_ACTIONS
from devflow.servers.models import BulkResult, BulkResultStatus, BulkRun, Server
from devflow.transport.base import Result
from devflow.transport.commands import Command
from devflow.transport.local import LocalSession
from devflow.transport.ssh import FanOut, FanOutResult

BULK_CONCURRENCY = settings.DEVFLOW_BULK_CONCURRENCY
PROGRESS_EVERY_SECONDS = 0.5
OUTPUT_LIMIT = 64 * 1024

Planned = tuple[BulkResult, Server, list[Command]]


def status_of(outcome: Result) -> str:
    if outcome.ok:
        return BulkResultStatus.SUCCEEDED
    if outcome.timed_out:
        return BulkResultStatus.TIMED_OUT
    if outcome.cancelled:
        return BulkResultStatus.CANCELLED
    return BulkResultStatus.FAILED


@register
class BulkRunJob(JobKind):
    """Run a bulk action on every selected server, `BULK_CONCURRENCY` at a time."""

    name = "servers.bulk"
    label = "Bulk action"
    timeout_seconds = 3900

    def run(self) -> dict[str, Any]:
        run = BulkRun.objects.filter(
            pk=int(self.params.get("run_id") or 0), team_id=self.job.team_id or 0
        ).first()
        if run is None:
            raise JobError("The bulk run no longer exists.")
        action = BULK_ACTIONS[run.action]
        self._run, self._after = run, action.after
        results = list(run.results.select_related("server__ssh_key"))
        self.log(f"{action.label} on {len(results)} server(s), {BULK_CONCURRENCY} at a time.")
        planned = [item for item in (self._plan(r, run) for r in results) if item]
        for item in planned:
            if item[1].is_local:
                self._run_locally(item, action.timeout_seconds)
        self._fan_out([item for item in planned if not item[1].is_local], action.timeout_seconds)
        counts = bulk.summary(run)
        self.log(", ".join(f"{count} {status}" for status, count in sorted(counts.items())))
        succeeded = counts.get(BulkResultStatus.SUCCEEDED, 0)
        if succeeded != len(results):
            raise JobError(
                f"{len(results) - succeeded} of {len(results)} server(s) did not succeed; "
                "see the results per server."
            )
        return counts

    def _plan(self, result: BulkResult, run: BulkRun) -> Planned | None:
        server = result.server
        error = ""
        steps: list[Command] = []
        if server is None:
            error = "The server was deleted."
        else:
            try:
                steps = BULK_ACTIONS[run.action].steps(
                    str(server.facts.get("family", "")), run.params
                )
                if not server.is_local:
                    services.target_of(server)
            except (UnsupportedSystem, services.ServerError) as problem:
                error = str(problem)
        if error or server is None:
            bulk.mark(
                result.pk, status=BulkResultStatus.FAILED, error=error, finished_at=bulk.now()
            )
            return None
        return result, server, steps

    def _fan_out(self, items: list[Planned], timeout: int) -> None:
        if not items:
            return
        finished = {"count": 0}
        last_progress = [0.0]

        def on_start(index: int, target: object) -> None:
            bulk.mark(items[index][0].pk, status=BulkResultStatus.RUNNING, started_at=bulk.now())

        def on_result(item: FanOutResult) -> None:
            row = items[item.index][0]
            finished["count"] += 1
            # One progress write per half second, not one per server.
            done = finished["count"] == len(items)
            if done or time.monotonic() - last_progress[0] >= PROGRESS_EVERY_SECONDS:
                last_progress[0] = time.monotonic()
                self.progress(
                    int(100 * finished["count"] / len(items)),
                    f"{finished['count']} of {len(items)} done",
                )
            if item.error is not None:
                cancelled = item.error.reason == "cancelled"
                bulk.mark(
                    row.pk,
                    error=item.error.message,
                    finished_at=bulk.now(),
                    status=BulkResultStatus.CANCELLED if cancelled else BulkResultStatus.FAILED,
                )
                self.log(f"{row.server_name}: {item.error.message}", LogStream.STDERR)
                return
            assert item.result is not None
            self._record(row, item.result)

        steps = [item[2] for item in items]
        fan_out = FanOut(
            [services.target_of(item[1]) for item in items],
            lambda target: steps[targets_index[id(target)]],
            limit=BULK_CONCURRENCY,
            timeout=timeout,
            on_start=on_start,
            on_result=on_result,
        )
        targets_index = {id(target): index for index, target in enumerate(fan_out.targets)}
        self.on_cancel(fan_out.cancel)
        fan_out.run()

    def _run_locally(self, item: Planned, timeout: int) -> None:
        row, server, steps = item
        bulk.mark(row.pk, status=BulkResultStatus.RUNNING, started_at=bulk.now())
        session = LocalSession(sudo_password=server.sudo_password)
        remove = self.on_cancel(session.cancel)
        outputs: list[Result] = []
        for step in steps:
            outputs.append(session.run(step, timeout=timeout))
            if not outputs[-1].ok:
                break
        remove()
        last = outputs[-1]
        self._record(
            row,
            Result(
                last.exit_status,
                "\n".join(o.stdout for o in outputs if o.stdout),
                "\n".join(o.stderr for o in outputs if o.stderr),
                timed_out=last.timed_out,
                cancelled=last.cancelled,
            ),
        )

    def _record(self, row: BulkResult, outcome: Result) -> None:
        if outcome.ok and self._after is not None:
            self._after(self._run, row)
        bulk.mark(
            row.pk,
            status=status_of(outcome),
            exit_status=outcome.exit_status,
            output=outcome.stdout[-OUTPUT_LIMIT:],
            error=outcome.stderr[-OUTPUT_LIMIT:],
            finished_at=bulk.now(),
        )
        self.log(f"{row.server_name}: {outcome.summary()}")
