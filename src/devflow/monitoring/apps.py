from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "devflow.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.monitoring import (  # noqa: F401  (job kinds)
            alert_jobs,
            jobs,
            ticks,
        )

        register_tick_hook(ticks.tick)
        from devflow.monitoring import health_jobs, health_ticks  # noqa: F401  (job kinds)

        register_tick_hook(health_ticks.tick)
