from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "devflow.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from devflow.core.scheduler import register_tick_hook
        from devflow.webhooks import retries

        register_tick_hook(retries.tick)
