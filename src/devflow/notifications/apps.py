from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "devflow.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.notifications import (
            jobs,  # noqa: F401  (job kinds)
            services,
            webhook,  # noqa: F401  (the "webhook" notifier kind)
        )

        register_tick_hook(services.retry_due)
