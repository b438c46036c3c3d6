"""The terminal WebSocket against a real sshd: who may open it, what it does, what it records."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

import psutil
import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from devflow.accounts import services as accounts
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User
from devflow.core.models import ActivityLog
from devflow.servers.models import Server
from devflow.servers.terminal import (
    CLOSE_IDLE,
    CLOSE_NOT_FOUND,
    CLOSE_REVOKED,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
    CLOSE_UNREACHABLE,
    TerminalConsumer,
)
from devflow.transport.ssh import fingerprint
from tests.conftest import PASSWORD, free_port
from tests.conftest import run_async as run

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class Screen:
    """One terminal WebSocket as a test sees it: bytes shown, status messages, close code."""

    def __init__(self, user: Any, server_id: int, path_suffix: str = "") -> None:
        from devflow.asgi import websocket_urls

        path = f"/ws/servers/{server_id}/terminal{path_suffix}"
        self.communicator = WebsocketCommunicator(URLRouter(websocket_urls), path)
        self.communicator.scope["user"] = user
        self.communicator.scope["client"] = ("203.0.113.7", 50123)
        self.output = b""
        self.statuses: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def open(self) -> tuple[bool, int | None]:
        return await self.communicator.connect(timeout=10)

    async def type(self, text: str) -> None:
        await self.communicator.send_to(bytes_data=text.encode())

    async def control(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def read_until(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Read until the screen matches `pattern` (a regex over everything shown)."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.text)):
            if self.close_code is not None:
                raise AssertionError(
                    f"closed ({self.close_code}) before {pattern!r}: {self.text!r}"
                )
            await self._receive(deadline - time.monotonic())
        return found

    async def wait_closed(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            await self._receive(deadline - time.monotonic())
        return self.close_code

    async def _receive(self, timeout: float) -> None:
        if timeout <= 0:
            raise AssertionError(f"timed out; the screen shows {self.text!r}")
        try:
            message = await self.communicator.receive_output(timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"timed out; the screen shows {self.text!r}") from None
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
        elif message.get("bytes") is not None:
            self.output += message["bytes"]
        elif message.get("text") is not None:
            self.statuses.append(json.loads(message["text"]))

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    async def close(self) -> None:
        await self.communicator.disconnect()


def member(team: Team, role: str, username: str) -> User:
    user = accounts.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def web1(make_server, shared_sshd) -> Server:  # type: ignore[no-untyped-def]
    return make_server(shared_sshd)


@pytest.mark.parametrize("role", [Role.OWNER, Role.MAINTAINER])
def test_maintainers_and_owners_get_a_shell_that_answers(role, alice, acme, web1, shared_sshd):
    user = alice if role == Role.OWNER else member(acme, role, "dana")

    async def scenario() -> None:
        screen = Screen(user, web1.pk, "?cols=100&rows=30")
        connected, _ = await screen.open()
        assert connected
        await screen.type("echo $((6*7))\n")
        await screen.read_until(r"[\r\n]42\r\n")
        status = screen.statuses[0]
        assert status == {
            "status": "connected",
            "server": "web-1",
            "fingerprint": fingerprint(shared_sshd.host_public_key),
        }
        await screen.close()

    run(scenario)
    web1.refresh_from_db()
    assert web1.host_key_fingerprint == fingerprint(shared_sshd.host_public_key)  # pinned


def test_a_resize_reaches_the_remote_pty(alice, web1):
    async def scenario() -> None:
        screen = Screen(alice, web1.pk, "?cols=100&rows=30")
        assert (await screen.open())[0]
        await screen.type("stty size\n")
        await screen.read_until(r"[\r\n]30 100\r\n")
        await screen.control({"resize": [132, 43]})
        await screen.type("stty size\n")
        await screen.read_until(r"[\r\n]43 132\r\n")
        await screen.close()

    run(scenario)


def test_utf8_passes_through_both_ways(alice, web1):
    async def scenario() -> None:
        screen = Screen(alice, web1.pk)
        assert (await screen.open())[0]
        await screen.type("printf '%s-%s\\n' grüße 日本\n")
        await screen.read_until(r"[\r\n]grüße-日本\r\n")
        await screen.close()

    run(scenario)


def test_anonymous_connections_are_refused(web1):
    async def scenario() -> None:
        connected, code = await Screen(AnonymousUser(), web1.pk).open()
        assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)

    run(scenario)
    assert not ActivityLog.objects.filter(action__startswith="terminal.").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEPLOYER])
def test_viewers_and_deployers_get_the_same_refusal_as_a_missing_server(role, acme, web1):
    user = member(acme, role, "erin")

    async def scenario() -> None:
        assert await Screen(user, web1.pk).open() == (False, CLOSE_NOT_FOUND)
        assert await Screen(user, web1.pk + 1000).open() == (False, CLOSE_NOT_FOUND)

    run(scenario)
    assert not ActivityLog.objects.filter(action__startswith="terminal.").exists()


def test_another_teams_owner_is_refused(charlie, web1):
    async def scenario() -> None:
        assert await Screen(charlie, web1.pk).open() == (False, CLOSE_NOT_FOUND)

    run(scenario)


def test_the_session_is_recorded_without_keystrokes(alice, acme, web1):
    async def scenario() -> None:
        screen = Screen(alice, web1.pk)
        assert (await screen.open())[0]
        await screen.type("echo top-secret-$((1+1))\n")
        await screen.read_until(r"[\r\n]top-secret-2\r\n")
        await screen.close()

    run(scenario)
    opened = ActivityLog.objects.get(action="terminal.opened")
    closed = ActivityLog.objects.get(action="terminal.closed")
    for row in (opened, closed):
        assert (row.actor, row.team, row.target_label, row.source) == (alice, acme, "web-1", "web")
        assert row.ip_address == "203.0.113.7"
        assert row.result == "success"
        assert "top-secret" not in json.dumps(row.details)
    assert opened.details["host_key_fingerprint"].startswith("SHA256:")
    assert closed.details["reason"] == "closed in the browser"
    assert closed.details["bytes_in"] == len("echo top-secret-$((1+1))\n")
    assert closed.details["bytes_out"] > 0
    assert closed.details["duration_seconds"] >= 0


def test_closing_the_socket_ends_the_remote_shell(alice, web1):
    shell: dict[str, int] = {}

    async def scenario() -> None:
        screen = Screen(alice, web1.pk)
        assert (await screen.open())[0]
        await screen.type("echo shell-pid=$$\n")
        shell["pid"] = int((await screen.read_until(r"[\r\n]shell-pid=(\d+)\r\n")).group(1))
        assert alive(shell["pid"])
        await screen.close()

    run(scenario)
    deadline = time.monotonic() + 15
    while alive(shell["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(shell["pid"]), "the remote shell outlived the WebSocket"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_exiting_the_shell_closes_the_socket(alice, web1):
    async def scenario() -> None:
        screen = Screen(alice, web1.pk)
        assert (await screen.open())[0]
        await screen.type("exit\n")
        assert await screen.wait_closed() == 1000
        assert screen.statuses[-1] == {"status": "closed", "reason": "the shell exited"}

    run(scenario)
    assert ActivityLog.objects.get(action="terminal.closed").details["reason"] == "the shell exited"


def test_an_idle_session_is_closed(alice, web1, monkeypatch):
    monkeypatch.setattr(TerminalConsumer, "idle_seconds", 1.0)

    async def scenario() -> None:
        screen = Screen(alice, web1.pk)
        assert (await screen.open())[0]
        assert await screen.wait_closed() == CLOSE_IDLE
        assert "Closed: no input for 1 min." in screen.text
        assert screen.statuses[-1] == {"status": "closed", "reason": "no input for 1 min"}

    run(scenario)


def test_a_demoted_user_loses_the_open_session(acme, web1, monkeypatch):
    monkeypatch.setattr(TerminalConsumer, "recheck_seconds", 0.2)
    dana = member(acme, Role.MAINTAINER, "dana")

    async def scenario() -> None:
        screen = Screen(dana, web1.pk)
        assert (await screen.open())[0]
        await screen.type("echo still-here\n")
        await screen.read_until(r"[\r\n]still-here\r\n")
        await sync_to_async(demote)(dana)
        assert await screen.wait_closed() == CLOSE_REVOKED
        assert "no longer use this server's terminal" in screen.text

    run(scenario)
    closed = ActivityLog.objects.get(action="terminal.closed")
    assert closed.details["reason"] == "you may no longer use this server's terminal"


def demote(user: User) -> None:
    Membership.objects.filter(user=user).update(role=Role.DEPLOYER)


def test_an_unreachable_server_is_explained_in_red(alice, acme, make_server, shared_sshd):
    server = make_server(dataclasses.replace(shared_sshd, port=free_port()), name="gone")

    async def scenario() -> None:
        screen = Screen(alice, server.pk)
        assert (await screen.open())[0]
        assert await screen.wait_closed() == CLOSE_UNREACHABLE
        assert re.search(r"\x1b\[31m.*refused the connection", screen.text)

    run(scenario)
    row = ActivityLog.objects.get(action="terminal.opened")
    assert row.result == "failure" and "refused the connection" in row.details["error"]
    assert not ActivityLog.objects.filter(action="terminal.closed").exists()


def test_the_local_server_is_refused_with_a_reason(alice, acme):
    local = Server.objects.create(team=acme, name="this-machine", is_local=True)

    async def scenario() -> None:
        screen = Screen(alice, local.pk)
        assert (await screen.open())[0]
        assert await screen.wait_closed() == CLOSE_UNAVAILABLE
        assert "does not open on this machine" in screen.text

    run(scenario)


def test_the_page_is_for_maintainers_only(client, alice, bob, web1):
    client.force_login(bob)
    assert client.get(f"/servers/{web1.pk}/terminal/").status_code == 403
    assert (
        f"/servers/{web1.pk}/terminal/" not in client.get(f"/servers/{web1.pk}/").content.decode()
    )
    client.force_login(alice)
    page = client.get(f"/servers/{web1.pk}/terminal/").content.decode()
    assert f'data-ws-path="/ws/servers/{web1.pk}/terminal"' in page
    assert "xterm-6.0.0.min.js" in page
    assert f"/servers/{web1.pk}/terminal/" in client.get(f"/servers/{web1.pk}/").content.decode()


def test_the_page_explains_why_the_local_server_has_no_terminal(alice_client, acme):
    local = Server.objects.create(team=acme, name="this-machine", is_local=True)
    page = alice_client.get(f"/servers/{local.pk}/terminal/").content.decode()
    assert "does not open on this machine" in page
    assert "data-ws-path" not in page
