from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "devflow.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.monitoring import jobs, ticks  # noqa: F401  (job kinds)

        register_tick_hook(ticks.tick)
