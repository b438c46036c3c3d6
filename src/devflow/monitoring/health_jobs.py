"""Job kinds: run the claimed health checks concurrently and record them; purge old results."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from django.utils import timezone

from devflow.core.jobs import JobKind, register
from devflow.monitoring import health
from devflow.monitoring.models import CheckOutcome, HealthCheck

# At most this many requests at once; a timeout ties a thread for at most MAX_TIMEOUT s.
POOL_SIZE = 32


@register
class RunHealthChecks(JobKind):
    """One tick's due checks (or the one a user asked for), side by side.

    The threads only talk to the network; this thread writes every result, so the
    database sees one writer per job whatever the pool size.
    """

    name = health.JOB_KIND
    label = "Run health checks"
    timeout_seconds = 4 * health.MAX_TIMEOUT

    def run(self) -> dict[str, Any]:
        ids = [int(pk) for pk in self.params.get("check_ids", [])]
        checks = list(HealthCheck.objects.filter(pk__in=ids, enabled=True).select_related("team"))
        counts = dict.fromkeys(CheckOutcome.values, 0)
        if not checks:
            return counts
        pool = ThreadPoolExecutor(max_workers=min(POOL_SIZE, len(checks)))
        self.on_cancel(lambda: pool.shutdown(wait=False, cancel_futures=True))
        try:
            futures: dict[Future[health.Probe], HealthCheck] = {
                pool.submit(health.run_check, check, team=check.team): check for check in checks
            }
            for future in as_completed(futures):
                check = futures[future]
                try:
                    probe = future.result()
                except Exception as error:  # a bug in one probe must not lose the others
                    probe = health.Probe(at=timezone.now(), error=f"Internal error: {error}")
                result = health.record(check, probe)
                counts[result.outcome] += 1
                if result.outcome != CheckOutcome.UP:
                    self.log(f"{check.name} ({check.target}): {result.outcome}. {result.error}")
                self.check_cancelled()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return counts


@register
class PurgeHealthResults(JobKind):
    name = "monitoring.health_purge"
    label = "Delete old health check results"
    timeout_seconds = 600

    def run(self) -> dict[str, Any]:
        return {"purged": health.purge()}
