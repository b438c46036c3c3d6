"""What the monitoring pages need beyond `queries`: every gauge of the newest samples,
the overview's rows and their order, server-side sparklines, and human units.

`queries.latest` loads only the charted fields; the Prometheus endpoint and the
per-server page also want the 5- and 15-minute load and swap, so they read here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from devflow.monitoring.models import ServerSample
from devflow.servers.choices import ServerStatus
from devflow.servers.models import Server

# A sample older than this is not "current": the overview and /metrics leave it out.
FRESH = timedelta(minutes=10)


def newest(server: Server) -> ServerSample | None:
    """The server's newest sample, however old (raw samples are kept 48 h)."""
    return ServerSample.objects.filter(server=server).defer("counters").order_by("-at").first()


def latest_samples(server_ids: list[int], within: timedelta = FRESH) -> dict[int, ServerSample]:
    """The newest sample of each server, every gauge, in one query reading one row each."""
    newest_pk = (
        ServerSample.objects.filter(server_id=OuterRef("server_id"))
        .order_by("-at")
        .values("pk")[:1]
    )
    rows = (
        ServerSample.objects.filter(server_id__in=server_ids, at__gte=timezone.now() - within)
        .filter(pk=Subquery(newest_pk))
        .defer("counters")
    )
    return {row.server_id: row for row in rows}


# Units ---------------------------------------------------------------------------

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def human_bytes(value: float | None) -> str:
    """1536 → "1.5 KiB"; None → an em dash."""
    if value is None:
        return "—"
    number, unit = float(value), 0
    while abs(number) >= 1024 and unit < len(_UNITS) - 1:
        number /= 1024
        unit += 1
    if unit == 0:
        return f"{number:.0f} B"
    return f"{number:.1f} {_UNITS[unit]}" if abs(number) < 100 else f"{number:.0f} {_UNITS[unit]}"


def human_rate(value: float | None) -> str:
    return "—" if value is None else f"{human_bytes(value)}/s"


def human_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def share(part: float | None, total: float | None) -> float | None:
    """Part of total in percent, or None when there is no total."""
    if part is None or not total:
        return None
    return 100.0 * part / total


# Overview --------------------------------------------------------------------------


@dataclass
class Row:
    """One server on the overview, with the numbers it sorts by."""

    server: Server
    sample: Any  # ServerSample | None (from queries.latest: only the charted fields)
    cpu: float | None
    memory: float | None
    disk: float | None
    load: float | None
    rx: float | None
    tx: float | None
    spark: str  # SVG polyline points, "" without data
    spark_summary: str

    @property
    def cells(self) -> dict[str, str]:
        return {
            "cpu": human_percent(self.cpu),
            "memory": human_percent(self.memory),
            "disk": human_percent(self.disk),
            "load": "—" if self.load is None else f"{self.load:.2f}",
            "rx": human_rate(self.rx),
            "tx": human_rate(self.tx),
        }


_STATUS_RANK: dict[str, int] = {ServerStatus.DOWN: 0, ServerStatus.UNKNOWN: 1, ServerStatus.UP: 2}

# Column key → (heading, value to sort by, numbers start high-first).
COLUMNS: dict[str, tuple[str, Callable[[Row], Any], bool]] = {
    "name": ("Server", lambda row: row.server.name.lower(), False),
    "status": ("Status", lambda row: _STATUS_RANK.get(row.server.status, 1), False),
    "cpu": ("CPU", lambda row: row.cpu, True),
    "memory": ("Memory", lambda row: row.memory, True),
    "disk": ("Disk", lambda row: row.disk, True),
    "load": ("Load", lambda row: row.load, True),
    "rx": ("Net in", lambda row: row.rx, True),
    "tx": ("Net out", lambda row: row.tx, True),
}


# Columns a phone leaves out (the server's own page has them).
NARROW_HIDDEN = {"load", "rx", "tx"}


def parse_sort(value: str) -> tuple[str, bool]:
    """`?sort=cpu` / `?sort=-cpu` → ("cpu", descending); unknown keys sort by name."""
    key = value.lstrip("-")
    if key not in COLUMNS:
        return "name", False
    return key, value.startswith("-")


def sort_rows(rows: list[Row], key: str, descending: bool) -> list[Row]:
    """Order by one column; servers without a value go last either way, by name."""
    value = COLUMNS[key][1]
    by_name = sorted(rows, key=lambda row: row.server.name.lower())
    present = [row for row in by_name if value(row) is not None]
    missing = [row for row in by_name if value(row) is None]
    return sorted(present, key=value, reverse=descending) + missing


def headings(key: str, descending: bool) -> list[dict[str, Any]]:
    """Each column's heading, the `?sort=` its link asks for, and its aria-sort state."""
    result = []
    for name, (label, _value, high_first) in COLUMNS.items():
        if name == key:
            following = name if descending else f"-{name}"
            state = "descending" if descending else "ascending"
        else:
            following = f"-{name}" if high_first else name
            state = "none"
        result.append(
            {"key": name, "label": label, "sort": following, "aria": state,
             "hide_mobile": name in NARROW_HIDDEN}
        )  # fmt: skip
    return result


SPARK_WIDTH, SPARK_HEIGHT = 100, 24


def sparkline(values: list[float], top: float = 100.0) -> str:
    """SVG polyline points for values on a fixed 0..top scale (so servers compare)."""
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2
    step = SPARK_WIDTH / (len(values) - 1)
    points = []
    for index, value in enumerate(values):
        level = max(0.0, min(top, value)) / top
        y = (SPARK_HEIGHT - 1) - level * (SPARK_HEIGHT - 2)
        points.append(f"{index * step:.1f},{y:.1f}")
    return " ".join(points)


def overview_rows(
    servers: Iterable[Server], latest: dict[int, Any], lines: dict[int, list[float]]
) -> list[Row]:
    """Rows for the overview from `queries.latest` and `queries.sparklines` results."""
    rows = []
    for server in servers:
        sample = latest.get(server.pk)
        cpu_line = lines.get(server.pk, [])
        summary = (
            f"CPU over the last hour: {min(cpu_line):.0f} to {max(cpu_line):.0f}%, "
            f"average {sum(cpu_line) / len(cpu_line):.0f}%"
            if cpu_line
            else "No CPU data for the last hour"
        )
        rows.append(
            Row(
                server=server,
                sample=sample,
                cpu=sample.cpu_percent if sample else None,
                memory=share(sample.mem_used, sample.mem_total) if sample else None,
                disk=share(sample.disk_used, sample.disk_total) if sample else None,
                load=sample.load1 if sample else None,
                rx=sample.net_rx_bps if sample else None,
                tx=sample.net_tx_bps if sample else None,
                spark=sparkline(cpu_line),
                spark_summary=summary,
            )
        )
    return rows


# One server -------------------------------------------------------------------------


def gauges(sample: ServerSample) -> list[tuple[str, str, str]]:
    """(label, value, detail) for the per-server page's "Now" panel."""
    return [
        ("CPU", human_percent(sample.cpu_percent), ""),
        (
            "Memory",
            human_percent(share(sample.mem_used, sample.mem_total)),
            f"{human_bytes(sample.mem_used)} of {human_bytes(sample.mem_total)}",
        ),
        (
            "Swap",
            human_bytes(sample.swap_used),
            f"of {human_bytes(sample.swap_total)}" if sample.swap_total else "no swap",
        ),
        ("Load", f"{sample.load1:.2f}", f"{sample.load5:.2f} · {sample.load15:.2f} (5, 15 min)"),
        (
            "Disk",
            human_percent(share(sample.disk_used, sample.disk_total)),
            f"{human_bytes(sample.disk_used)} of {human_bytes(sample.disk_total)}",
        ),
        (
            "Disk I/O",
            human_rate(sample.disk_read_bps),
            f"read · {human_rate(sample.disk_write_bps)} write",
        ),
        ("Network", human_rate(sample.net_rx_bps), f"in · {human_rate(sample.net_tx_bps)} out"),
    ]


def mounts(sample: ServerSample) -> list[dict[str, Any]]:
    """The newest sample's filesystems with human sizes and a percentage."""
    result = []
    for mount in sample.mounts or []:
        used, total = mount.get("used", 0), mount.get("total", 0)
        percent = share(used, total)
        result.append(
            {
                "mount": mount.get("mount", "?"),
                "used": human_bytes(used),
                "total": human_bytes(total),
                "free": human_bytes(max(0, total - used)),
                "percent": percent or 0.0,
                "percent_label": human_percent(percent),
            }
        )
    return result
