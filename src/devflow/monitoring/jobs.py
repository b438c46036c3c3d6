"""Job kinds: collect every server's metrics (one command each, in parallel), roll them up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from devflow.core.jobs import JobKind, register
from devflow.monitoring import collector, services
from devflow.servers import services as server_services
from devflow.servers.models import Server
from devflow.transport import pool
from devflow.transport.errors import TransportError
from devflow.transport.local import LocalSession
from devflow.transport.ssh import FanOutResult


@register
class CollectMetrics(JobKind):
    """One collection tick: every server (or the ones named), one round trip each."""

    name = "monitoring.collect"
    label = "Collect server metrics"
    timeout_seconds = 120
    keep_days = 2

    def run(self) -> dict[str, Any]:
        servers = Server.objects.select_related("ssh_key")
        if self.params.get("server_ids"):
            servers = servers.filter(pk__in=self.params["server_ids"])
        local = [s for s in servers if s.is_local]
        remote = [s for s in servers if not s.is_local and s.ssh_key is not None and s.host_key]
        at = timezone.now()
        stored, failed = 0, []

        def keep(server: Server, output: str) -> None:
            nonlocal stored
            try:
                services.record(server, collector.parse(output), at)
                stored += 1
            except collector.ReadingError as error:
                failed.append(f"{server.name}: {error}")

        for server in local:
            result = LocalSession().run(collector.command(), timeout=30)
            if result.ok:
                keep(server, result.stdout)
            else:
                failed.append(f"{server.name}: {result.summary()}")

        def on_result(item: FanOutResult) -> None:
            server = remote[item.index]
            if item.error is not None:
                failed.append(f"{server.name}: {item.error.message}")
            elif item.result is not None and item.result.ok:
                keep(server, item.result.stdout)
            else:
                failed.append(f"{server.name}: the metrics command failed")

        # Over the SSH connections the worker keeps between collections (pool.py).
        kept = pool.shared(idle_seconds=settings.DEVFLOW_METRICS_KEEP_CONNECTIONS_SECONDS)
        fan_out = kept.fan_out(
            [server_services.target_of(s) for s in remote],
            collector.command(),
            limit=100,
            timeout=30,
            on_result=on_result,
        )
        self.on_cancel(fan_out.cancel)
        try:
            fan_out.run()
        except TransportError as error:
            failed.append(error.message)
        for line in failed:
            self.log(line)
        return {"stored": stored, "failed": len(failed)}


@register
class RollUpMetrics(JobKind):
    name = "monitoring.rollup"
    label = "Roll up server metrics"
    timeout_seconds = 300
    keep_days = 2

    def run(self) -> dict[str, Any]:
        counts = services.roll_up()
        counts["purged"] = services.purge()
        return counts
