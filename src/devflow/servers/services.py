"""Rules for servers: validation, sessions, checks and facts, pings, host key trust."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from devflow.core import audit
from devflow.core.jobs import enqueue
from devflow.core.models import ActivitySource, Job
from devflow.notifications import services as notifications
from devflow.servers.choices import ServerStatus
from devflow.servers.models import PingResult, Server, ServerGroup, SshKey, Tag
from devflow.transport.commands import Command
from devflow.transport.errors import FailureReason, TransportError
from devflow.transport.local import LocalSession
from devflow.transport.ssh import SshSession, Target, fingerprint

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
USERNAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ServerError(Exception):
    """A rule was broken; the message is shown to the user as-is."""


def validate_host(host: str) -> str:
    host = host.strip()
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if not HOSTNAME.match(host):
        raise ServerError(f"{host!r} is not a host name or IP address.")
    return host.lower()


def validate_username(username: str) -> str:
    if not USERNAME.match(username):
        raise ServerError(
            f"{username!r} is not a valid user name (lower-case letters, digits, _ . -)."
        )
    return username


def validate_port(port: int) -> int:
    if not 1 <= int(port) <= 65535:
        raise ServerError("The port must be between 1 and 65535.")
    return int(port)


def validate_service_name(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise ServerError(f"{name!r} is not a systemd unit name (letters, digits, @ . _ : -).")
    return name


def validate_colour(colour: str) -> str:
    if not COLOUR.match(colour):
        raise ServerError(f"{colour!r} is not a colour like #2457d6.")
    return colour.lower()


# Sessions ----------------------------------------------------------------------


def target_of(server: Server) -> Target:
    if server.ssh_key is None:
        raise ServerError(f"{server} has no SSH key: pick one on its settings page.")
    return Target(
        host=server.host,
        port=server.port,
        username=server.username,
        private_key=server.ssh_key.private_key,
        pinned_host_key=server.host_key,
        sudo_password=server.sudo_password,
        label=server.name,
    )


def open_session(server: Server) -> SshSession | LocalSession:
    """A connected session to `server`; on first contact its host key gets pinned."""
    if server.is_local:
        return LocalSession(sudo_password=server.sudo_password)
    session = SshSession(target_of(server))
    try:
        session.connect()
    except TransportError:
        session.close()
        raise
    if not server.host_key and session.host_key:
        pin_host_key(server, session.host_key)
    return session


def pin_host_key(server: Server, host_key: str) -> None:
    server.host_key = host_key
    server.host_key_fingerprint = fingerprint(host_key)
    server.host_key_trusted_at = timezone.now()
    Server.objects.filter(pk=server.pk).update(
        host_key=server.host_key,
        host_key_fingerprint=server.host_key_fingerprint,
        host_key_trusted_at=server.host_key_trusted_at,
    )


# Facts ---------------------------------------------------------------------------

FACTS_SCRIPT = r"""
. /etc/os-release 2>/dev/null
echo "os=${PRETTY_NAME:-$(uname -s)}"
echo "os_id=${ID:-unknown}"
echo "os_like=${ID_LIKE:-}"
echo "os_version=${VERSION_ID:-}"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
awk '/^MemTotal:/ {print "ram_kb=" $2}' /proc/meminfo 2>/dev/null
df -Pk / 2>/dev/null | awk 'NR==2 {print "disk_total_kb=" $2; print "disk_used_kb=" $3}'
awk '{print "uptime_s=" int($1)}' /proc/uptime 2>/dev/null
if command -v docker >/dev/null 2>&1; then echo "docker=$(docker --version 2>/dev/null)"; fi
exit 0
"""

NUMERIC_FACTS = {"cpus", "ram_kb", "disk_total_kb", "disk_used_kb", "uptime_s"}


def parse_facts(output: str) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            continue
        value = value.strip()
        facts[key] = int(value) if key in NUMERIC_FACTS and value.isdigit() else value
    return facts


def os_family(facts: dict[str, Any]) -> str:
    """debian, rhel, alpine or unknown, from /etc/os-release's ID and ID_LIKE."""
    ids = {str(facts.get("os_id", "")).lower(), *str(facts.get("os_like", "")).lower().split()}
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"rhel", "fedora", "centos", "rocky", "almalinux", "alma"}:
        return "rhel"
    if "alpine" in ids:
        return "alpine"
    return "unknown"


def gather_facts(server: Server, session: SshSession | LocalSession) -> dict[str, Any]:
    result = session.run(Command.script(FACTS_SCRIPT, label="gather facts"), timeout=60)
    if not result.ok:
        raise ServerError(f"Gathering facts failed ({result.summary()}): {result.stderr[:300]}")
    facts = parse_facts(result.stdout)
    facts["family"] = os_family(facts)
    server.facts = facts
    server.facts_at = timezone.now()
    Server.objects.filter(pk=server.pk).update(facts=facts, facts_at=server.facts_at)
    return facts


# Status and pings ------------------------------------------------------------------


def record_check(
    server: Server, *, ok: bool, latency_ms: int | None, message: str = "", reason: str = ""
) -> None:
    """Store one check's outcome: the server's status and a history row."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": ServerStatus.UP if ok else ServerStatus.DOWN,
        "status_message": message[:500],
        "failure_reason": "" if ok else reason,
        "latency_ms": latency_ms if ok else None,
        "last_checked_at": now,
    }
    if ok:
        fields["last_seen_at"] = now
    previous = Server.objects.filter(pk=server.pk).values_list("status", flat=True).first()
    Server.objects.filter(pk=server.pk).update(**fields)
    if previous != fields["status"] and previous in (ServerStatus.UP, ServerStatus.DOWN):
        _announce_status(server, ok=ok, message=message)
    for name, value in fields.items():
        setattr(server, name, value)
    PingResult.objects.create(
        server=server, at=now, ok=ok, latency_ms=latency_ms if ok else None, message=message[:500]
    )


def _announce_status(server: Server, *, ok: bool, message: str) -> None:
    link = notifications.link_to(reverse("servers:detail", args=[server.pk]))
    data = {
        "server": {"id": server.pk, "name": server.name, "host": server.host,
                   "status": ServerStatus.UP if ok else ServerStatus.DOWN},
        "message": message,
    }  # fmt: skip
    if ok:
        notifications.emit(
            server.team, "server.up", link=link, data=data,
            title=f"Server {server.name} is back up",
            body=f"{server.name} ({server.host or 'this machine'}) answers again.",
        )  # fmt: skip
    else:
        notifications.emit(
            server.team, "server.down", link=link, data=data,
            title=f"Server {server.name} is down",
            body=f"{server.name} ({server.host or 'this machine'}) does not answer: {message}",
        )  # fmt: skip


def check_reachability(server: Server) -> tuple[bool, int | None, str, str]:
    """Connect and run `true`; return (ok, latency in ms, message, failure reason)."""
    started = time.monotonic()
    try:
        with open_session(server) as session:
            result = session.run(Command.of("true"), timeout=30)
    except (TransportError, ServerError) as error:
        reason = error.reason if isinstance(error, TransportError) else FailureReason.KEY
        return False, None, str(error), str(reason)
    latency = int((time.monotonic() - started) * 1000)
    if not result.ok:
        return False, None, f"`true` failed: {result.summary()}", FailureReason.OTHER
    return True, latency, "", ""


# Changing servers ------------------------------------------------------------------


@dataclass
class ServerData:
    name: str
    host: str = ""
    port: int = 22
    username: str = "root"
    ssh_key: SshKey | None = None
    sudo_password: str | None = None  # None keeps the stored one
    group: ServerGroup | None = None
    tags: list[Tag] | None = None
    ping_enabled: bool = True


def _apply(server: Server, data: ServerData) -> None:
    name = data.name.strip()
    if not name:
        raise ServerError("A server needs a name.")
    clash = Server.objects.filter(team=server.team, name__iexact=name).exclude(pk=server.pk)
    if clash.exists():
        raise ServerError(f"There is already a server named {name!r} in this team.")
    server.name = name
    if not server.is_local:
        host = validate_host(data.host)
        port = validate_port(data.port)
        if server.pk and (host, port) != (server.host, server.port):
            # Another address is another machine: its key is pinned afresh on next contact.
            server.host_key = server.host_key_fingerprint = ""
            server.host_key_trusted_at = None
        server.host, server.port = host, port
        server.username = validate_username(data.username)
        if data.ssh_key is None:
            raise ServerError("Pick the SSH key DevFlow Pro logs in with.")
        if data.ssh_key.team_id != server.team_id:
            raise ServerError("That SSH key belongs to another team.")
        server.ssh_key = data.ssh_key
    if data.group is not None and data.group.team_id != server.team_id:
        raise ServerError("That group belongs to another team.")
    server.group = data.group
    if data.sudo_password is not None:
        server.sudo_password = data.sudo_password
    server.ping_enabled = data.ping_enabled


@transaction.atomic
def create_server(
    actor: Any,
    team: Any,
    data: ServerData,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
    local: bool = False,
) -> tuple[Server, Job]:
    """Add a server and queue its first check (connect, pin the host key, gather facts)."""
    server = Server(team=team, created_by=actor, is_local=local)
    if local:
        if Server.objects.filter(team=team, is_local=True).exists():
            raise ServerError("This machine is already one of the team's servers.")
        server.username = ""
    _apply(server, data)
    server.next_ping_at = timezone.now() + timedelta(seconds=server.ping_interval_seconds)
    server.save()
    if data.tags is not None:
        server.tags.set(_own_tags(server, data.tags))
    audit.record(
        "server.created",
        actor=actor,
        team=team,
        target=server,
        request=request,
        source=source,
        details={"address": server.address},
    )
    job = enqueue(
        "servers.check",
        team=team,
        actor=actor,
        target=server,
        trigger=audit.job_trigger(source, request),
        params={"server_id": server.pk},
    )
    return server, job


@transaction.atomic
def update_server(
    actor: Any, server: Server, data: ServerData, *, request: HttpRequest | None = None
) -> Server:
    _apply(server, data)
    server.save()
    if data.tags is not None:
        server.tags.set(_own_tags(server, data.tags))
    audit.record(
        "server.updated",
        actor=actor,
        team=server.team,
        target=server,
        request=request,
        details={"address": server.address},
    )
    return server


@transaction.atomic
def delete_server(actor: Any, server: Server, *, request: HttpRequest | None = None) -> None:
    audit.record(
        "server.deleted",
        actor=actor,
        team=server.team,
        target=server,
        request=request,
        details={"address": server.address},
    )
    server.delete()


def _own_tags(server: Server, tags: list[Tag]) -> list[Tag]:
    if any(tag.team_id != server.team_id for tag in tags):
        raise ServerError("A tag belongs to another team.")
    return tags


def queue_job(
    actor: Any,
    server: Server,
    kind: str,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
    **params: Any,
) -> Job:
    """Queue a job on one server and log who asked for it."""
    job = enqueue(
        kind,
        team=server.team,
        actor=actor,
        target=server,
        trigger=audit.job_trigger(source, request),
        params={"server_id": server.pk, **params},
    )
    audit.record(
        f"{kind}.queued",
        actor=actor,
        team=server.team,
        target=server,
        request=request,
        source=source,
        details={"job": job.pk, **params},
    )
    return job
