"""Job kinds for servers: check (connect, pin, facts), quick actions, pings, host key re-trust."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from django.utils import timezone

from devflow.core import audit
from devflow.core.jobs import JobError, JobKind, register
from devflow.core.models import ActivitySource
from devflow.core.models.jobs import LogStream
from devflow.servers import services
from devflow.servers.actions import QUICK_ACTIONS, QuickAction, UnsupportedSystem
from devflow.servers.models import Server
from devflow.transport.commands import Command
from devflow.transport.errors import TransportError
from devflow.transport.local import LocalSession
from devflow.transport.ssh import (
    FanOut,
    FanOutResult,
    SshSession,
    fetch_host_key,
    fingerprint,
)


class ServerJob(JobKind):
    """A job on one server: loads it within the job's team, shares one connection."""

    _session: SshSession | LocalSession | None = None

    @property
    def server(self) -> Server:
        if not hasattr(self, "_server"):
            server = (
                Server.objects.select_related("ssh_key")
                .filter(pk=int(self.params.get("server_id") or 0), team_id=self.job.team_id or 0)
                .first()
            )
            if server is None:
                raise JobError("The server no longer exists.")
            self._server = server
        return self._server

    def session(self) -> SshSession | LocalSession:
        if self._session is None:
            try:
                session = services.open_session(self.server)
            except TransportError as error:
                services.record_check(
                    self.server,
                    ok=False,
                    latency_ms=None,
                    message=error.message,
                    reason=error.reason,
                )
                raise JobError(error.message) from None
            except services.ServerError as error:
                raise JobError(str(error)) from None
            self._session = session
            self.on_cancel(session.cancel)
            self.on_finish(session.close)
            if self.server.host_key_fingerprint:
                self.log(
                    f"Connected to {self.server.address} "
                    f"(host key {self.server.host_key_fingerprint})."
                )
        return self._session

    def run_step(self, command: Command, timeout: float | None = None) -> None:
        """Run one command with its output in the log; a failure ends the job."""
        self.check_cancelled()
        self.log(f"$ {command.describe()}")
        try:
            result = self.session().stream(
                command, on_line=lambda stream, line: self.log(line, stream), timeout=timeout
            )
        except TransportError as error:
            raise JobError(error.message) from None
        self.check_cancelled()
        if result.timed_out:
            raise JobError(f"`{command.describe()}` did not finish within {timeout:g} s.")
        if not result.ok:
            raise JobError(f"`{command.describe()}` failed with {result.summary()}.")


@register
class CheckServer(ServerJob):
    """Connect (pinning the host key on first contact), measure latency, gather facts."""

    name = "servers.check"
    label = "Check connection and gather facts"
    timeout_seconds = 180

    def run(self) -> dict[str, Any]:
        server = self.server
        self.progress(10, "Connecting")
        started = time.monotonic()
        first_contact = not server.host_key and not server.is_local
        self.session()
        latency = int((time.monotonic() - started) * 1000)
        if first_contact:
            self.log(
                f"First contact: pinned host key {server.host_key_fingerprint}. "
                "Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` "
                "on the server."
            )
            audit.record(
                "server.host_key_pinned",
                team=server.team,
                target=server,
                source=ActivitySource.SYSTEM,
                details={"fingerprint": server.host_key_fingerprint},
            )
        self.progress(50, "Gathering facts")
        try:
            facts = services.gather_facts(server, self.session())
        except (services.ServerError, TransportError) as error:
            raise JobError(str(error)) from None
        services.record_check(server, ok=True, latency_ms=latency)
        self.log(
            f"{facts.get('os')} · kernel {facts.get('kernel')} · {facts.get('arch')} · "
            f"{facts.get('cpus')} CPU · {int(facts.get('ram_kb') or 0) // 1024} MB RAM"
        )
        if facts.get("docker"):
            self.log(str(facts["docker"]))
        self.progress(100, "Done")
        return {"latency_ms": latency, "facts": facts}


class QuickActionJob(ServerJob):
    """Run one of the quick actions, step by step, with the output in the log."""

    action: ClassVar[QuickAction]

    def run(self) -> dict[str, Any]:
        server = self.server
        family = str(server.facts.get("family") or "")
        if not family and not server.is_local:
            self.log("No facts yet: gathering them to learn the OS family.")
            family = services.gather_facts(server, self.session())["family"]
        elif server.is_local and not family:
            family = services.gather_facts(server, self.session())["family"]
        try:
            steps = self.action.steps(family, {k: str(v) for k, v in self.params.items()})
        except UnsupportedSystem as error:
            raise JobError(str(error)) from None
        for number, command in enumerate(steps, start=1):
            self.progress(int(100 * (number - 1) / len(steps)), command.describe())
            self.run_step(command, timeout=self.action.timeout_seconds)
        if self.action.name == "reboot":
            self.wait_for_return()
        self.progress(100, "Done")
        return {"steps": len(steps)}

    def wait_for_return(self) -> None:
        """After a reboot: wait for the server to go away and answer again."""
        self._session = None  # the old connection dies with the reboot
        self.log("Waiting for the server to go down and come back…")
        deadline = time.monotonic() + self.action.timeout_seconds - 30
        went_down = False
        while time.monotonic() < deadline:
            self.check_cancelled()
            ok, latency, _, _ = services.check_reachability(self.server)
            if not ok:
                went_down = True
            elif went_down:
                self.log(f"The server is back (answered in {latency} ms).")
                services.record_check(self.server, ok=True, latency_ms=latency)
                return
            time.sleep(3)
        raise JobError("The server did not come back after the reboot in time.")


for _action in QUICK_ACTIONS.values():
    register(
        type(
            f"QuickAction_{_action.name}",
            (QuickActionJob,),
            {
                "name": f"servers.{_action.name}",
                "label": _action.label,
                "action": _action,
                "timeout_seconds": _action.timeout_seconds,
            },
        )
    )


@register
class RetrustHostKey(ServerJob):
    """Pin the key the server presents now, if it is the one the user confirmed."""

    name = "servers.retrust_host_key"
    label = "Trust a new host key"
    timeout_seconds = 60

    def run(self) -> dict[str, Any]:
        server = self.server
        expected = str(self.params.get("fingerprint", "")).strip()
        try:
            public = fetch_host_key(server.host, server.port)
        except TransportError as error:
            raise JobError(error.message) from None
        if not public:
            raise JobError("The server presented no host key.")
        presented = fingerprint(public)
        if presented != expected:
            raise JobError(
                f"The server now presents {presented}, not the {expected} you confirmed. "
                "Nothing was changed."
            )
        old = server.host_key_fingerprint
        services.pin_host_key(server, public)
        Server.objects.filter(pk=server.pk).update(failure_reason="", status_message="")
        audit.record(
            "server.host_key_retrusted",
            actor=self.job.actor,
            team=server.team,
            target=server,
            details={"old": old, "new": presented},
        )
        self.log(f"Pinned the new host key {presented} (was {old}).")
        return {"fingerprint": presented}


@register
class PingServers(JobKind):
    """Check reachability of many servers at once (the scheduler's auto-ping)."""

    name = "servers.ping"
    label = "Ping servers"
    timeout_seconds = 300

    def run(self) -> dict[str, Any]:
        servers = list(
            Server.objects.select_related("ssh_key").filter(
                pk__in=self.params.get("server_ids", [])
            )
        )
        remote = [s for s in servers if not s.is_local and s.ssh_key is not None and s.host_key]
        for server in servers:
            if server.is_local:
                services.record_check(server, ok=True, latency_ms=0)
            elif server not in remote:
                # Never contacted (no pinned key yet): a full check pins it first.
                ok, latency, message, reason = services.check_reachability(server)
                services.record_check(
                    server, ok=ok, latency_ms=latency, message=message, reason=reason
                )

        def on_result(item: FanOutResult) -> None:
            server = remote[item.index]
            latency = int(item.seconds * 1000)
            if item.error is not None:
                services.record_check(
                    server,
                    ok=False,
                    latency_ms=None,
                    message=item.error.message,
                    reason=item.error.reason,
                )
            else:
                services.record_check(
                    server,
                    ok=item.ok,
                    latency_ms=latency,
                    message="" if item.ok else "`true` failed",
                )

        fan_out = FanOut(
            [services.target_of(s) for s in remote],
            Command.of("true"),
            limit=50,
            timeout=30,
            on_result=on_result,
        )
        self.on_cancel(fan_out.cancel)
        fan_out.run()
        up = sum(1 for s in Server.objects.filter(pk__in=[s.pk for s in servers], status="up"))
        self.log(f"{up} of {len(servers)} servers up at {timezone.now():%H:%M:%S}.", LogStream.INFO)
        return {"checked": len(servers), "up": up}
