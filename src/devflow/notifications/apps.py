from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "devflow.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from devflow.notifications import jobs  # noqa: F401  (job kinds)
