"""Encryption keys for secrets at rest (MultiFernet, newest key first).

Keys come from DEVFLOW_SECRET_KEYS, or from the key file in the data directory,
created with mode 0600 on first start. A missing key file after secrets were
stored, or a corrupt one, fails loudly instead of writing unreadable rows.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from devflow.core.env import ConfigError

MASK = "••••••••"


class SecretKeyError(ConfigError):
    """The encryption keys are missing, corrupt, or cannot decrypt a stored secret."""


def _parse_keys(raw: str, origin: str) -> list[Fernet]:
    keys = [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
    if not keys:
        raise SecretKeyError(f"{origin} holds no encryption key.")
    parsed = []
    for number, key in enumerate(keys, start=1):
        try:
            parsed.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"Key {number} in {origin} is not a valid Fernet key (32 url-safe base64 bytes). "
                "Restore the key file from backup; secrets encrypted with the lost key "
                "cannot be read."
            ) from None
    return parsed


def create_key_file(path: Path) -> None:
    """Create the key file with one new key, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")


def load_keys() -> None:
    """Check that the configured keys load; never create a key file."""
    fernet.cache_clear()
    if not settings.DEVFLOW_SECRET_KEYS and not Path(settings.DEVFLOW_SECRET_KEY_FILE).exists():
        raise SecretKeyError(
            f"The key file {settings.DEVFLOW_SECRET_KEY_FILE} is missing. On the first machine "
            "run `devflow prepare` (or `devflow up`), which creates it; on other machines copy "
            "it from the first one (or set DEVFLOW_SECRET_KEYS) so they all share the keys."
        )
    fernet()


def ensure_keys() -> None:
    """Create the key file on a fresh install; refuse to if secrets are already stored."""
    path = Path(settings.DEVFLOW_SECRET_KEY_FILE)
    if not settings.DEVFLOW_SECRET_KEYS and not path.exists():
        stored = count_stored_secrets()
        if stored:
            raise SecretKeyError(
                f"The key file {path} is missing but {stored} encrypted secret(s) are stored. "
                "Restore the key file from backup (or set DEVFLOW_SECRET_KEYS); a new key "
                "could not read them."
            )
        create_key_file(path)
    fernet.cache_clear()
    fernet()


@lru_cache(maxsize=1)
def fernet() -> MultiFernet:
    """Return the MultiFernet built from the configured keys (newest first)."""
    if settings.DEVFLOW_SECRET_KEYS:
        return MultiFernet(_parse_keys(settings.DEVFLOW_SECRET_KEYS, "DEVFLOW_SECRET_KEYS"))
    path = Path(settings.DEVFLOW_SECRET_KEY_FILE)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        raise SecretKeyError(
            f"The key file {path} is missing. Run `devflow up` (which creates it on a fresh "
            "install) or restore it from backup; without it stored secrets cannot be read."
        ) from None
    return MultiFernet(_parse_keys(raw, str(path)))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        pass
    # Another process may have rotated the keys since this one loaded them: reload once.
    fernet.cache_clear()
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with the configured keys. "
            "Was the key file replaced? Restore the previous key and run `devflow rotate-keys`."
        ) from None


def rotate_token(token: str) -> str:
    """Re-encrypt a token with the newest key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "A stored secret cannot be decrypted with any configured key."
        ) from None


def add_new_key() -> Path:
    """Put a new key first in the key file; older keys stay so old tokens still decrypt."""
    if settings.DEVFLOW_SECRET_KEYS:
        raise SecretKeyError(
            "Keys come from DEVFLOW_SECRET_KEYS: put a new key first in that variable on every "
            "machine, then run `devflow rotate-keys` to re-encrypt with it."
        )
    path = Path(settings.DEVFLOW_SECRET_KEY_FILE)
    existing = path.read_text() if path.exists() else ""
    write_key_file(path, Fernet.generate_key().decode() + "\n" + existing)
    return path


def write_key_file(path: Path, content: str) -> None:
    """Replace the key file atomically (temp file, fsync, rename), owner-only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fernet.cache_clear()


def mask(value: str | None) -> str:
    """Return the masked form shown wherever a secret would appear."""
    return MASK if value else ""


def count_stored_secrets() -> int:
    """Count non-empty encrypted values in the database (0 if tables do not exist yet)."""
    from django.db import DatabaseError

    from devflow.core.fields import encrypted_fields

    total = 0
    for model, field in encrypted_fields():
        try:
            total += (
                model._default_manager.exclude(**{field: ""})
                .exclude(**{f"{field}__isnull": True})
                .count()
            )
        except DatabaseError:
            return 0
    return total
