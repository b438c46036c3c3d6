"""Key rotation: a new key on every server that uses the old one, verified before the switch.

Per server: add the new key (logged in with the old one), log in with the new key, switch
the server to it, then take the old key out. Until the new login works the server keeps the
old key, so a failure anywhere leaves it reachable exactly as before.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from devflow.core import audit
from devflow.core.jobs import JobError, JobKind, enqueue, register
from devflow.core.models import ActivitySource, Job
from devflow.core.models.jobs import LogStream
from devflow.servers import authorized_keys, keys, services
from devflow.servers.models import KeyInstallation, Server, SshKey
from devflow.transport.commands import Command
from devflow.transport.errors import TransportError
from devflow.transport.ssh import SshSession


def start_rotation(
    actor: Any, key: SshKey, *, request: HttpRequest | None = None, source: str = ActivitySource.WEB
) -> Job:
    if not key.servers.exists():
        raise services.ServerError(f"No server logs in with {key}: nothing to rotate.")
    job = enqueue(
        "servers.rotate_key", team=key.team, actor=actor, target=key, params={"key_id": key.pk}
    )
    audit.record(
        "ssh_key.rotation_queued",
        actor=actor,
        team=key.team,
        target=key,
        request=request,
        source=source,
        details={"job": job.pk},
    )
    return job


def _run(session: SshSession, command: Command) -> None:
    result = session.run(command, timeout=60)
    if not result.ok:
        raise JobError(
            f"`{command.describe()}` failed ({result.summary()}): {result.stderr.strip()[:300]}"
        )


@register
class RotateKey(JobKind):
    name = "servers.rotate_key"
    label = "Rotate an SSH key"
    timeout_seconds = 1800

    def lock_key(self) -> str | None:
        return f"ssh_key:{self.params.get('key_id')}"

    def run(self) -> dict[str, Any]:
        old = SshKey.objects.filter(
            pk=int(self.params.get("key_id") or 0), team_id=self.job.team_id or 0
        ).first()
        if old is None:
            raise JobError("The key no longer exists.")
        servers = list(Server.objects.filter(ssh_key=old).select_related("ssh_key"))
        stamp = timezone.now().strftime("%Y-%m-%d %H%M%S")
        new = keys.generate_key(
            self.job.actor,
            old.team,
            f"{old.name} (rotated {stamp})",
            old.algorithm,
            expires_at=None,
        )
        self.log(f"New key {new.name} ({new.fingerprint}); {len(servers)} server(s) to move.")
        moved, failed = [], []
        for number, server in enumerate(servers, start=1):
            self.check_cancelled()
            self.progress(int(100 * (number - 1) / max(1, len(servers))), server.name)
            try:
                self._rotate_one(server, old, new)
                moved.append(server.name)
            except (JobError, TransportError, services.ServerError) as error:
                failed.append(server.name)
                self.log(f"{server.name}: {error} It keeps the old key.", LogStream.STDERR)
        audit.record(
            "ssh_key.rotated",
            actor=self.job.actor,
            team=old.team,
            target=old,
            source=ActivitySource.SYSTEM,
            details={
                "new_key": new.name,
                "new_fingerprint": new.fingerprint,
                "moved": moved,
                "failed": failed,
            },
        )
        if failed:
            raise JobError(
                f"Moved {len(moved)} of {len(servers)} server(s) to {new.name}; "
                f"{', '.join(failed)} still use {old.name} (see the log)."
            )
        self.log(
            f"All {len(moved)} server(s) now log in with {new.name}; {old.name} is out "
            "of their authorized_keys. Delete it once you no longer need it."
        )
        return {"new_key_id": new.pk, "moved": moved}

    def _rotate_one(self, server: Server, old: SshKey, new: SshKey) -> None:
        self.log(f"{server.name}: adding the new key.")
        with SshSession(services.target_of(server)) as with_old:
            _run(with_old, authorized_keys.add_key(new.public_key))
            # Log in with the new key before trusting it; on failure, take it back out.
            server.ssh_key = new
            try:
                with SshSession(services.target_of(server)) as with_new:
                    if not with_new.run(Command.of("true"), timeout=30).ok:
                        raise JobError("Logging in with the new key did not work.")
            except (TransportError, JobError):
                server.ssh_key = old
                _run(with_old, authorized_keys.remove_key(new.public_key))
                raise
        with transaction.atomic():
            Server.objects.filter(pk=server.pk).update(ssh_key=new)
            KeyInstallation.objects.get_or_create(ssh_key=new, server=server)
        self.log(f"{server.name}: logs in with the new key; removing the old one.")
        with SshSession(services.target_of(server)) as with_new:
            _run(with_new, authorized_keys.remove_key(old.public_key))
        KeyInstallation.objects.filter(ssh_key=old, server=server).delete()
