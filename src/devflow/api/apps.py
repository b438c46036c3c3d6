from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "devflow.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from devflow.api import schema  # noqa: F401  (the token auth's OpenAPI description)
