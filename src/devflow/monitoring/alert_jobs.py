"""Job kind: evaluate every enabled alert rule and escalate overdue alerts, once an interval."""

from __future__ import annotations

from typing import Any

from devflow.core.jobs import JobKind, register
from devflow.monitoring import alerts


@register
class EvaluateAlerts(JobKind):
    """One evaluation: trigger, resolve and escalate; each transition notifies once."""

    name = "monitoring.alerts"
    label = "Evaluate alert rules"
    timeout_seconds = 120

    def run(self) -> dict[str, Any]:
        return alerts.evaluate().as_dict()
