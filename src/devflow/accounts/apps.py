from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "devflow.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        from devflow.accounts import api_tokens  # noqa: F401  (signal receivers)
