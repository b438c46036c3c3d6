"""Re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from devflow.core import crypto
from devflow.core.fields import encrypted_fields


def rotate(*, add_key: bool | None = None, drop_old: bool = False) -> int:
    """Optionally add a new key, then rewrite every secret; return how many were rewritten.

    Reading decrypts with any configured key; writing encrypts with the newest, so once
    this returns the old keys may be dropped.
    """
    if add_key is None:
        # Keys from the environment are the operator's to add; the key file is ours.
        add_key = not settings.DEVFLOW_SECRET_KEYS
    if add_key:
        crypto.add_new_key()
    count = 0
    with transaction.atomic():
        for model, field in encrypted_fields():
            manager = model._default_manager
            for pk, value in manager.exclude(**{field: ""}).values_list("pk", field):
                if value:
                    manager.filter(pk=pk).update(**{field: value})
                    count += 1
    if drop_old and not settings.DEVFLOW_SECRET_KEYS:
        path = Path(settings.DEVFLOW_SECRET_KEY_FILE)
        newest = path.read_text().splitlines()[0]
        crypto.write_key_file(path, newest + "\n")
    return count
