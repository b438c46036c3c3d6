"""Store samples, roll them up to 1-minute and 1-hour series, and forget old ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, Max, Sum
from django.db.models.functions import ExtractMinute, TruncHour, TruncMinute
from django.utils import timezone

from devflow.monitoring import collector
from devflow.monitoring.models import Resolution, ServerRollup, ServerSample
from devflow.servers.models import Server

RAW_KEPT = timedelta(hours=48)


def record(server: Server, reading: collector.Reading, at: datetime | None = None) -> ServerSample:
    """Save a reading as a sample, with rates against the server's previous sample."""
    previous = ServerSample.objects.filter(server=server).order_by("-at").values("counters").first()
    rates = collector.rates(previous["counters"] if previous else None, reading)
    return ServerSample.objects.create(
        server=server,
        at=at or timezone.now(),
        cpu_percent=rates["cpu_percent"],
        mem_used=reading.mem_used,
        mem_total=reading.mem_total,
        swap_used=reading.swap_used,
        swap_total=reading.swap_total,
        load1=reading.load[0],
        load5=reading.load[1],
        load15=reading.load[2],
        net_rx_bps=rates["net_rx_bps"],
        net_tx_bps=rates["net_tx_bps"],
        disk_read_bps=rates["disk_read_bps"],
        disk_write_bps=rates["disk_write_bps"],
        disk_used=sum(m["used"] for m in reading.mounts),
        disk_total=sum(m["total"] for m in reading.mounts),
        mounts=reading.mounts,
        counters=reading.counters,
    )


_AVERAGED = ["mem_used", "mem_total", "swap_used", "load1", "net_rx_bps", "net_tx_bps",
             "disk_read_bps", "disk_write_bps", "disk_used", "disk_total"]  # fmt: skip


def _aware(moment: datetime) -> datetime:
    # PostgreSQL hands back arithmetic on a truncated time as wall-clock time in the
    # current zone (the one the truncation used), without the zone.
    if timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment, timezone.get_current_timezone())


def _ten_minutes(field: str) -> Any:
    """Truncate to the start of the 10-minute slot, on SQLite and PostgreSQL alike."""
    return TruncMinute(field) - ExpressionWrapper(
        ExtractMinute(field) % 10 * timedelta(minutes=1), output_field=DurationField()
    )


def _roll(source: Any, truncate: Any, resolution: str, since: datetime, until: datetime,
          from_resolution: str | None) -> int:  # fmt: skip
    """Aggregate `source` rows in [since, until) into `resolution` buckets (upsert)."""
    time_field = "at" if from_resolution is None else "bucket"
    rows = source.objects.filter(**{f"{time_field}__gte": since, f"{time_field}__lt": until})
    if from_resolution is not None:
        rows = rows.filter(resolution=from_resolution)
    grouped = (
        rows.annotate(slot=truncate(time_field))
        .values("server_id", "slot")
        .annotate(
            count=Count("id") if from_resolution is None else Sum("samples"),
            cpu=Avg("cpu_percent"),
            cpu_max=Max("cpu_percent" if from_resolution is None else "cpu_percent_max"),
            **{name: Avg(name) for name in _AVERAGED},
        )
    )
    rollups = [
        ServerRollup(
            server_id=row["server_id"],
            resolution=resolution,
            bucket=_aware(row["slot"]),
            samples=row["count"],
            cpu_percent=row["cpu"],
            cpu_percent_max=row["cpu_max"],
            **{name: row[name] for name in _AVERAGED},
        )
        for row in grouped
    ]
    ServerRollup.objects.bulk_create(
        rollups,
        update_conflicts=True,
        unique_fields=["server", "resolution", "bucket"],
        update_fields=["samples", "cpu_percent", "cpu_percent_max", *_AVERAGED],
    )
    return len(rollups)


def roll_up(now: datetime | None = None) -> dict[str, int]:
    """(Re)build the recent complete minutes, 10 minutes and hours; safe to run repeatedly."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    ten = minute.replace(minute=minute.minute - minute.minute % 10)
    hour = minute.replace(minute=0)
    return {
        "minutes": _roll(ServerSample, TruncMinute, Resolution.MINUTE,
                         minute - timedelta(minutes=10), minute, None),
        "ten_minutes": _roll(ServerRollup, _ten_minutes, Resolution.TEN_MINUTES,
                             ten - timedelta(minutes=30), ten, Resolution.MINUTE),
        "hours": _roll(ServerRollup, TruncHour, Resolution.HOUR,
                       hour - timedelta(hours=2), hour, Resolution.MINUTE),
    }  # fmt: skip


def purge(now: datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = ServerSample.objects.filter(at__lt=now - RAW_KEPT).delete()
    minute_days = settings.DEVFLOW_METRICS_MINUTE_RETENTION_DAYS
    hour_days = settings.DEVFLOW_METRICS_HOUR_RETENTION_DAYS
    retention = [
        (Resolution.MINUTE, minute_days),
        (Resolution.TEN_MINUTES, hour_days),
        (Resolution.HOUR, hour_days),
    ]
    for resolution, days in retention:
        old = ServerRollup.objects.filter(
            resolution=resolution, bucket__lt=now - timedelta(days=days)
        )
        deleted += old.delete()[0]
    return deleted
