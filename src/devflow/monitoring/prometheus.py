"""The Prometheus text exposition (format 0.0.4) of one team's newest server samples.

Every server gets `devflow_server_up`; the gauges come from its newest sample when
that is fresh (at most `dashboard.FRESH` old), so a server that stopped reporting
disappears from them instead of repeating old values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devflow.accounts.models import Team
from devflow.monitoring import dashboard
from devflow.monitoring.models import ServerSample
from devflow.servers.choices import ServerStatus
from devflow.servers.models import Server

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    value: Callable[[ServerSample], Any]


GAUGES = [
    Gauge("cpu_percent", "CPU busy over the last interval, in percent of all CPUs.",
          lambda s: s.cpu_percent),
    Gauge("memory_used_bytes", "Memory in use (total minus available).", lambda s: s.mem_used),
    Gauge("memory_total_bytes", "Physical memory.", lambda s: s.mem_total),
    Gauge("swap_used_bytes", "Swap in use.", lambda s: s.swap_used),
    Gauge("swap_total_bytes", "Swap configured.", lambda s: s.swap_total),
    Gauge("load1", "Load average over 1 minute.", lambda s: s.load1),
    Gauge("load5", "Load average over 5 minutes.", lambda s: s.load5),
    Gauge("load15", "Load average over 15 minutes.", lambda s: s.load15),
    Gauge("network_receive_bytes_per_second", "Bytes received per second, all interfaces but lo.",
          lambda s: s.net_rx_bps),
    Gauge("network_transmit_bytes_per_second", "Bytes sent per second, all interfaces but lo.",
          lambda s: s.net_tx_bps),
    Gauge("disk_read_bytes_per_second", "Bytes read per second from whole disks.",
          lambda s: s.disk_read_bps),
    Gauge("disk_write_bytes_per_second", "Bytes written per second to whole disks.",
          lambda s: s.disk_write_bps),
    Gauge("sample_timestamp_seconds", "Unix time the values above were collected.",
          lambda s: s.at.timestamp()),
]  # fmt: skip


def escape_label(value: str) -> str:
    """A label value as the exposition format writes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{escape_label(value)}"' for key, value in pairs.items()) + "}"


def render(team: Team) -> str:
    """The exposition text for `team`'s servers, in two queries."""
    servers = list(Server.objects.filter(team=team).order_by("name", "pk").only("name", "status"))
    samples = dashboard.latest_samples([server.pk for server in servers])
    families: list[tuple[str, str, list[str]]] = []

    def family(name: str, text: str) -> list[str]:
        lines: list[str] = []
        families.append((f"devflow_server_{name}", text, lines))
        return lines

    up = family("up", "1 if the server's last connection check succeeded, else 0.")
    for server in servers:
        labels = _labels({"server": server.name, "server_id": str(server.pk)})
        up.append(f"{labels} {1 if server.status == ServerStatus.UP else 0}")
    for gauge in GAUGES:
        lines = family(gauge.name, gauge.help)
        for server in servers:
            sample = samples.get(server.pk)
            value = gauge.value(sample) if sample is not None else None
            if value is not None:
                labels = _labels({"server": server.name, "server_id": str(server.pk)})
                lines.append(f"{labels} {format_value(value)}")
    used = family("filesystem_used_bytes", "Bytes used on the filesystem mounted here.")
    size = family("filesystem_size_bytes", "Size of the filesystem mounted here.")
    for server in servers:
        sample = samples.get(server.pk)
        for mount in sample.mounts if sample is not None else []:
            labels = _labels(
                {"server": server.name, "server_id": str(server.pk), "mountpoint": mount["mount"]}
            )
            used.append(f"{labels} {format_value(int(mount['used']))}")
            size.append(f"{labels} {format_value(int(mount['total']))}")
    out = []
    for name, text, lines in families:
        out.append(f"# HELP {name} {_escape_help(text)}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{line}" for line in lines)
    return "\n".join(out) + "\n"
