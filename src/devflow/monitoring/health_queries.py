"""What the health pages read: uptime per window, and the chart's buckets.

Uptime is (up + degraded) / (up + degraded + down) over a window; unconfirmed
failures are left out. The chart reads one point per bucket, never every result:
24 h → 5 minutes (288 points), 7 d → 1 hour (168), 30 d → 4 hours (180).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Func, IntegerField, Max, Q
from django.utils import timezone

from devflow.monitoring.models import CheckOutcome, HealthCheck, HealthResult


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    span: timedelta
    step: int  # seconds per chart point


# 288, 168 and 180 points: one every few pixels of a wide chart.
RANGES = {
    r.key: r
    for r in [
        Range("24h", "24 hours", timedelta(hours=24), 300),
        Range("7d", "7 days", timedelta(days=7), 3600),
        Range("30d", "30 days", timedelta(days=30), 4 * 3600),
    ]
}
UPTIME_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
COUNTED = [CheckOutcome.UP, CheckOutcome.DEGRADED, CheckOutcome.DOWN]
GOOD = [CheckOutcome.UP, CheckOutcome.DEGRADED]


def uptimes(
    check_ids: list[int], now: datetime | None = None
) -> dict[int, dict[str, float | None]]:
    """Uptime % per check over 24 h, 7 d and 30 d, in one query (None: no results yet)."""
    now = now or timezone.now()
    counts: dict[str, Any] = {}
    for key, span in UPTIME_WINDOWS.items():
        since = now - span
        counts[f"good_{key}"] = Count("pk", filter=Q(at__gte=since, outcome__in=GOOD))
        counts[f"all_{key}"] = Count("pk", filter=Q(at__gte=since, outcome__in=COUNTED))
    rows: Any = (
        HealthResult.objects.filter(
            health_check_id__in=check_ids, at__gte=now - max(UPTIME_WINDOWS.values())
        )
        .values("health_check_id")
        .annotate(**counts)
        .order_by()
    )
    found: dict[int, dict[str, float | None]] = {
        pk: dict.fromkeys(UPTIME_WINDOWS) for pk in check_ids
    }
    for row in rows:
        for key in UPTIME_WINDOWS:
            total = row[f"all_{key}"]
            found[row["health_check_id"]][key] = (
                100.0 * row[f"good_{key}"] / total if total else None
            )
    return found


class EpochBucket(Func):
    """Epoch seconds of a datetime, rounded down to a multiple of `step` (SQLite, PostgreSQL)."""

    output_field = IntegerField()

    def __init__(self, expression: Any, step: int) -> None:
        super().__init__(expression)
        self.step = int(step)

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        # The strftime format is a parameter: no "%" in the SQL text to escape.
        return (
            f"((CAST(strftime(%s, {sql}) AS INTEGER) / {self.step}) * {self.step})",
            ("%s", *params),
        )

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(FLOOR(EXTRACT(EPOCH FROM {sql}) / {self.step}) * {self.step})::bigint",
            tuple(params),
        )


def series(check: HealthCheck | int, range_key: str, now: datetime | None = None) -> dict[str, Any]:
    """Chart columns, one point per bucket: average and slowest response, failures.

    {"at": [epoch...], "avg_ms": [...], "max_ms": [...], "down": [count...], "step": s}
    """
    chosen = RANGES[range_key]
    now = now or timezone.now()
    check_id = check if isinstance(check, int) else check.pk
    rows = (
        HealthResult.objects.filter(health_check_id=check_id, at__gte=now - chosen.span)
        .annotate(bucket=EpochBucket("at", chosen.step))
        .values("bucket")
        .annotate(
            avg_ms=Avg("response_ms", filter=Q(outcome__in=GOOD)),
            max_ms=Max("response_ms", filter=Q(outcome__in=GOOD)),
            down=Count("pk", filter=Q(outcome=CheckOutcome.DOWN)),
        )
        .order_by("bucket")
    )
    columns: dict[str, Any] = {"at": [], "avg_ms": [], "max_ms": [], "down": []}
    for row in rows:
        columns["at"].append(int(row["bucket"]))
        columns["avg_ms"].append(None if row["avg_ms"] is None else round(row["avg_ms"]))
        columns["max_ms"].append(row["max_ms"])
        columns["down"].append(row["down"])
    columns["range"] = chosen.key
    columns["step"] = chosen.step
    columns["span"] = int(chosen.span.total_seconds())
    return columns


def recent(check: HealthCheck, limit: int = 25) -> list[HealthResult]:
    return list(check.results.order_by("-at", "-pk")[:limit])


def tls_days_left(check: HealthCheck, now: datetime | None = None) -> int | None:
    if check.tls_expires_at is None:
        return None
    return (check.tls_expires_at - (now or timezone.now())).days
