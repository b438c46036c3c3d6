"""`{% open_alerts team %}`: the small count of open alerts other monitoring pages show."""

from __future__ import annotations

from typing import Any

from django import template

from devflow.monitoring import alerts

register = template.Library()


@register.inclusion_tag("monitoring/alert_count.html")
def open_alerts(team: Any) -> dict[str, Any]:
    return {"count": alerts.open_count(team) if team is not None else 0}
