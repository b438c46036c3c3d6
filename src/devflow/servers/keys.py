"""SSH keys: generate, import, fingerprint. Private halves are encrypted at rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncssh
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from devflow.core import audit
from devflow.servers.choices import KeyAlgorithm
from devflow.servers.models import SshKey
from devflow.servers.services import ServerError
from devflow.transport.errors import TransportError
from devflow.transport.ssh import load_private_key

GENERATE_OPTIONS: dict[str, dict[str, Any]] = {
    KeyAlgorithm.ED25519: {},
    KeyAlgorithm.RSA: {"key_size": 4096},
    KeyAlgorithm.ECDSA: {},
}


def _algorithm_of(key: asyncssh.SSHKey) -> str:
    name = key.get_algorithm()
    if name.startswith("ecdsa"):
        return KeyAlgorithm.ECDSA
    if name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"):
        return KeyAlgorithm.RSA
    if name == "ssh-ed25519":
        return KeyAlgorithm.ED25519
    raise ServerError(f"Keys of type {name} are not supported; use Ed25519, RSA or ECDSA.")


def _save(
    actor: Any,
    team: Any,
    name: str,
    key: asyncssh.SSHKey,
    *,
    expires_at: datetime | None,
    action: str,
    request: HttpRequest | None,
) -> SshKey:
    name = name.strip()
    if not name:
        raise ServerError("A key needs a name.")
    comment = f"devflow:{team.pk}:{name}"
    public = key.export_public_key().decode().strip()
    public_line = f"{public.split()[0]} {public.split()[1]} {comment}"
    try:
        with transaction.atomic():
            ssh_key = SshKey.objects.create(
                team=team,
                name=name,
                algorithm=_algorithm_of(key),
                private_key=key.export_private_key("openssh").decode(),
                public_key=public_line,
                fingerprint=str(key.get_fingerprint("sha256")),
                expires_at=expires_at,
                created_by=actor,
            )
    except IntegrityError:
        raise ServerError(f"There is already a key named {name!r} in this team.") from None
    audit.record(
        action,
        actor=actor,
        team=team,
        target=ssh_key,
        request=request,
        details={"fingerprint": ssh_key.fingerprint, "algorithm": ssh_key.algorithm},
    )
    return ssh_key


def generate_key(
    actor: Any,
    team: Any,
    name: str,
    algorithm: str = KeyAlgorithm.ED25519,
    *,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> SshKey:
    if algorithm not in GENERATE_OPTIONS:
        raise ServerError(f"Unknown key type {algorithm!r}.")
    key = asyncssh.generate_private_key(algorithm, **GENERATE_OPTIONS[algorithm])
    return _save(
        actor, team, name, key, expires_at=expires_at, action="ssh_key.generated", request=request
    )


def import_key(
    actor: Any,
    team: Any,
    name: str,
    private_key: str,
    passphrase: str = "",
    *,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> SshKey:
    """Import an OpenSSH or PEM private key (decrypted with `passphrase` if it has one)."""
    try:
        key = load_private_key(private_key.strip() + "\n", passphrase or None)
    except TransportError as error:
        raise ServerError(error.message) from None
    return _save(
        actor, team, name, key, expires_at=expires_at, action="ssh_key.imported", request=request
    )


def delete_key(actor: Any, ssh_key: SshKey, *, request: HttpRequest | None = None) -> None:
    if ssh_key.servers.exists():
        names = ", ".join(ssh_key.servers.values_list("name", flat=True)[:5])
        raise ServerError(
            f"Servers still log in with {ssh_key}: {names}. Pick another key for them first."
        )
    audit.record(
        "ssh_key.deleted",
        actor=actor,
        team=ssh_key.team,
        target=ssh_key,
        request=request,
        details={"fingerprint": ssh_key.fingerprint},
    )
    ssh_key.delete()
