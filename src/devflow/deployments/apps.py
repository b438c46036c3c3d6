from __future__ import annotations

from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "devflow.deployments"
    label = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.deployments import jobs, scheduling  # noqa: F401  (job kinds)

        register_tick_hook(scheduling.tick)
