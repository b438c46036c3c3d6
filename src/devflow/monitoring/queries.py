"""What the dashboards read: never more points than a chart draws.

Each range reads the coarsest series that still gives a point every few pixels:
1 h → raw samples (60), 6 h → 1-minute (360), 24 h → 10-minute (144),
7 d → 1-hour (168), 30 d → 1-hour (720).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from devflow.monitoring.models import Resolution, ServerRollup, ServerSample
from devflow.servers.models import Server


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    span: timedelta
    resolution: str  # "" for raw samples


RANGES = {
    r.key: r
    for r in [
        Range("1h", "1 hour", timedelta(hours=1), ""),
        Range("6h", "6 hours", timedelta(hours=6), Resolution.MINUTE),
        Range("24h", "24 hours", timedelta(hours=24), Resolution.TEN_MINUTES),
        Range("7d", "7 days", timedelta(days=7), Resolution.HOUR),
        Range("30d", "30 days", timedelta(days=30), Resolution.HOUR),
    ]
}

FIELDS = ["cpu_percent", "mem_used", "mem_total", "swap_used", "load1", "net_rx_bps",
          "net_tx_bps", "disk_read_bps", "disk_write_bps", "disk_used", "disk_total"]  # fmt: skip


def series(server: Server | int, range_key: str, now: datetime | None = None) -> dict[str, Any]:
    """Columns for a chart: {"at": [epoch seconds...], "cpu_percent": [...], ...}."""
    chosen = RANGES[range_key]
    since = (now or timezone.now()) - chosen.span
    server_id = server if isinstance(server, int) else server.pk
    rows: Any
    if chosen.resolution:
        rows = (
            ServerRollup.objects.filter(
                server_id=server_id, resolution=chosen.resolution, bucket__gte=since
            )
            .order_by("bucket")
            .values_list("bucket", *FIELDS)
        )
    else:
        rows = (
            ServerSample.objects.filter(server_id=server_id, at__gte=since)
            .order_by("at")
            .values_list("at", *FIELDS)
        )
    columns: dict[str, Any] = {"at": [], **{name: [] for name in FIELDS}}
    for row in rows:
        columns["at"].append(int(row[0].timestamp()))
        for name, value in zip(FIELDS, row[1:], strict=True):
            columns[name].append(value)
    columns["range"] = chosen.key
    columns["resolution"] = chosen.resolution or "raw"
    return columns


def latest(server_ids: list[int], within: timedelta = timedelta(minutes=10)) -> dict[int, Any]:
    """The newest sample of each server (seen within `within`), in one query.

    Each candidate row is kept only if it is its server's newest (an index lookup), so the
    query returns one row per server however often samples are taken.
    """
    newest_pk = (
        ServerSample.objects.filter(server_id=OuterRef("server_id"))
        .order_by("-at")
        .values("pk")[:1]
    )
    rows = (
        ServerSample.objects.filter(server_id__in=server_ids, at__gte=timezone.now() - within)
        .filter(pk=Subquery(newest_pk))
        .only("server_id", "at", *FIELDS, "mounts")
    )
    return {sample.server_id: sample for sample in rows}


def sparklines(server_ids: list[int], metric: str = "cpu_percent") -> dict[int, list[float]]:
    """The last hour of one metric per server, from 1-minute roll-ups, in one query."""
    since = timezone.now() - timedelta(hours=1)
    lines: dict[int, list[float]] = {pk: [] for pk in server_ids}
    rows = (
        ServerRollup.objects.filter(
            server_id__in=server_ids, resolution=Resolution.MINUTE, bucket__gte=since
        )
        .order_by("bucket")
        .values_list("server_id", metric)
    )
    for server_id, value in rows:
        if value is not None:
            lines[server_id].append(value)
    return lines
