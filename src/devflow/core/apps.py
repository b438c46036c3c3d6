from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "devflow.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from devflow.core import jobs_registry  # noqa: F401  (registers job kinds)
