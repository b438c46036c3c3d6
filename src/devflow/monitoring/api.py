"""API of the monitoring app: metrics, health checks, alert rules and alerts.

Each concept has its own module (`api_metrics`, `api_health`, `api_alerts`); this one adds
their view sets to /api/v1/.
"""

from __future__ import annotations

from rest_framework.routers import BaseRouter

from devflow.monitoring.api_alerts import AlertRuleViewSet, AlertViewSet
from devflow.monitoring.api_health import HealthCheckViewSet
from devflow.monitoring.api_metrics import MetricsViewSet


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
    router.register("metrics", MetricsViewSet, basename="metrics")
    router.register("health-checks", HealthCheckViewSet, basename="health-check")
    router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
    router.register("alerts", AlertViewSet, basename="alert")
