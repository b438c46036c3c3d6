from __future__ import annotations

from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "devflow.servers"
    label = "servers"
    verbose_name = "Servers"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.servers import bulk_jobs, jobs, pinging, rotation  # noqa: F401  (job kinds)

        register_tick_hook(pinging.enqueue_due_pings)
