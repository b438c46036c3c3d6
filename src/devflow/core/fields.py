"""An encrypted text field: secrets are stored as Fernet tokens, never in clear."""

from __future__ import annotations

from typing import Any

from django.db import models

from devflow.core import crypto

PREFIX = "fernet:"


class EncryptedTextField(models.TextField):
    """A TextField whose value is encrypted at rest with the configured MultiFernet.

    The Python value is the clear text; the database holds ``fernet:<token>``.
    Admin and forms never render it: ``formfield`` returns None unless asked.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        if not value.startswith(PREFIX):
            raise crypto.SecretKeyError("A secret column holds data that is not encrypted.")
        return crypto.decrypt(value[len(PREFIX) :])

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return PREFIX + crypto.encrypt(str(value))

    def value_to_string(self, obj: models.Model) -> str:
        # Serialization (dumpdata) must not leak the clear text.
        return crypto.mask(str(self.value_from_object(obj) or ""))


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """List every (model, field name) that holds an encrypted secret."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedTextField):
                found.append((model, field.name))
    return found
