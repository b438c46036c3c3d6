"""Metric readings for alert rules: which servers a rule watches, their values, the window.

Values come from the raw samples (kept 48 h) and, for reachability, from the ping history.
A window only counts when its readings cover it; a server that was not collected has no
readings, and no readings neither trigger nor resolve an alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from devflow.monitoring.models import AlertMetric, AlertRule, AlertScope, ServerSample
from devflow.servers.choices import ServerStatus
from devflow.servers.models import PingResult, Server

PERCENT_METRICS = {AlertMetric.CPU, AlertMetric.RAM, AlertMetric.DISK}


@dataclass(frozen=True)
class Reading:
    at: datetime
    value: float


def servers_in_scope(rule: AlertRule) -> QuerySet[Server]:
    servers = Server.objects.filter(team_id=rule.team_id)
    if rule.scope == AlertScope.SERVER:
        return servers.filter(pk=rule.server_id or 0)
    if rule.scope == AlertScope.GROUP:
        return servers.filter(group_id=rule.group_id)
    if rule.scope == AlertScope.TAG:
        return servers.filter(tags=rule.tag_id)
    return servers


def _sample_value(metric: str, row: dict[str, Any]) -> float | None:
    """The metric's value in one sample, or None where the sample does not say."""
    if metric == AlertMetric.CPU:
        return row["cpu_percent"]
    if metric == AlertMetric.RAM:
        return row["mem_used"] / row["mem_total"] * 100 if row["mem_total"] else None
    if metric == AlertMetric.DISK:
        mounts = [m for m in row["mounts"] or [] if m.get("total")]
        if mounts:
            return max(m["used"] / m["total"] * 100 for m in mounts)
        return row["disk_used"] / row["disk_total"] * 100 if row["disk_total"] else None
    if metric == AlertMetric.LOAD:
        return row["load1"]
    if row["net_rx_bps"] is None or row["net_tx_bps"] is None:
        return None
    return (row["net_rx_bps"] + row["net_tx_bps"]) * 8 / 1e6


_SAMPLE_FIELDS = ["server_id", "at", "cpu_percent", "mem_used", "mem_total", "mounts",
                  "disk_used", "disk_total", "load1", "net_rx_bps", "net_tx_bps"]  # fmt: skip


def readings(metric: str, servers: Sequence[Server], since: datetime) -> dict[int, list[Reading]]:
    """Each server's readings of `metric` since `since`, oldest first."""
    found: dict[int, list[Reading]] = {server.pk: [] for server in servers}
    if metric == AlertMetric.HEALTH:
        pings = PingResult.objects.filter(server__in=servers, at__gte=since).order_by("at")
        for server_id, at, ok in pings.values_list("server_id", "at", "ok"):
            found[server_id].append(Reading(at, 1.0 if ok else 0.0))
        # A check that set the status without a history row still counts.
        for server in servers:
            checked = server.last_checked_at
            known = server.status in (ServerStatus.UP, ServerStatus.DOWN)
            series = found[server.pk]
            if known and checked and checked >= since and (not series or checked > series[-1].at):
                series.append(Reading(checked, 1.0 if server.status == ServerStatus.UP else 0.0))
        return found
    samples = ServerSample.objects.filter(server__in=servers, at__gte=since).order_by("at")
    for row in samples.values(*_SAMPLE_FIELDS):
        value = _sample_value(metric, row)
        if value is not None:
            found[row["server_id"]].append(Reading(row["at"], value))
    return found


def slack(metric: str, server: Server) -> timedelta:
    """How far readings may be from the window's edges: about one collection interval."""
    interval = settings.DEVFLOW_METRICS_INTERVAL_SECONDS
    if metric == AlertMetric.HEALTH:
        interval = max(interval, server.ping_interval_seconds)
    return timedelta(seconds=interval * 1.5)


def window(rule: AlertRule, server: Server, series: list[Reading], now: datetime) -> list[Reading]:
    """The readings over the rule's duration, or [] if they do not cover it (missing data).

    Covered: the newest is fresh and the oldest is within `slack` of the window's start.
    A duration of 0 is the newest reading alone.
    """
    margin = slack(rule.metric, server)
    recent = [r for r in series if r.at <= now]
    if not recent or recent[-1].at < now - margin:
        return []
    if rule.duration_minutes == 0:
        return recent[-1:]
    start = now - timedelta(minutes=rule.duration_minutes)
    inside = [r for r in recent if r.at >= start]
    if not inside or inside[0].at > start + margin:
        return []
    return inside
