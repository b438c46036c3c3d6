"""The web terminal: a WebSocket bridged to an interactive shell on a server over SSH.

Binary frames carry terminal bytes both ways (xterm.js decodes UTF-8 that is split
across frames, so nothing is decoded here). Text frames carry JSON control messages:
the page sends `{"resize": [cols, rows]}`; the consumer sends `{"status": "connected",
...}` and `{"status": "closed", "reason": ...}`. Only maintainers and owners may open
one. A session writes `terminal.opened` and `terminal.closed` activity rows with its
duration and byte counts; what is typed or shown is never stored.

The shell runs in this web process's event loop, as DESIGN.md §2 says: it is the one
place where a request talks to a server, because a person is waiting at the keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import asyncssh
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from devflow.accounts.choices import Action
from devflow.core import audit
from devflow.core.models import ActivityResult, ActivitySource
from devflow.servers.models import Server
from devflow.servers.services import ServerError, pin_host_key, target_of
from devflow.transport.errors import TransportError
from devflow.transport.ssh import Target, fingerprint, host_key_of, open_connection

# Close codes the page may see (4000-4999 are free for applications).
CLOSE_NORMAL = 1000  # the shell exited
CLOSE_UNAUTHENTICATED = 4401  # not signed in (the handshake is refused)
CLOSE_NOT_FOUND = 4404  # no such server, another team's, or the user may not edit it
CLOSE_UNAVAILABLE = 4400  # the server cannot have a terminal (local, no key)
CLOSE_REVOKED = 4403  # the user lost the right to edit the server during the session
CLOSE_IDLE = 4408  # nothing typed for `idle_seconds`, or `max_seconds` reached
CLOSE_UNREACHABLE = 4502  # the SSH connection failed or dropped

TERM_TYPE = "xterm-256color"
DEFAULT_SIZE = (80, 24)
MAX_COLS, MAX_ROWS = 500, 200
PENDING_INPUT_LIMIT = 64 * 1024  # typed before the shell is ready; more is dropped

LOCAL_REFUSAL = (
    "The terminal does not open on this machine (the local server): its shell would run "
    "as the account DevFlow Pro runs as, which can read every team's secrets. Add this "
    "machine over SSH with a user of its own to get a terminal."
)


def red(text: str) -> bytes:
    """Text for the terminal, in red, on a line of its own."""
    return f"\r\n\x1b[31m{text}\x1b[0m\r\n".encode()


def term_size(value: Any, default: tuple[int, int] = DEFAULT_SIZE) -> tuple[int, int]:
    """Read `[cols, rows]` from the page, clamped to sane bounds; `default` if unusable."""
    try:
        cols, rows = (int(part) for part in value)
    except (TypeError, ValueError):
        return default
    return max(2, min(cols, MAX_COLS)), max(1, min(rows, MAX_ROWS))


def client_address(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


@dataclass
class Opening:
    """What `connect` needs to know about the server, read in one database round."""

    server: Server
    target: Target | None
    problem: str = ""


class TerminalConsumer(AsyncWebsocketConsumer):
    """Bridge one WebSocket to one interactive shell (with a pty) on one server."""

    idle_seconds: float = 30 * 60  # nothing typed for this long closes the session
    max_seconds: float = 8 * 60 * 60  # no session lasts longer than a working day
    recheck_seconds: float = 60  # how often the user's right to edit is checked again
    read_size = 64 * 1024

    task: asyncio.Task[None] | None = None
    process: asyncssh.SSHClientProcess[bytes] | None = None

    async def connect(self) -> None:
        self.server_id = int(self.scope["url_route"]["kwargs"]["server_id"])
        self.user = self.scope.get("user")
        self.browser_gone = False
        self.finishing = False
        self.bytes_in = self.bytes_out = 0
        self.pending_input: list[bytes] = []
        self.last_input = time.monotonic()
        self.size = DEFAULT_SIZE
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        opening = await self._opening()
        if opening is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        if opening.problem or opening.target is None:
            await self._refuse(opening.problem, CLOSE_UNAVAILABLE)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.size = term_size([query.get("cols", [""])[0], query.get("rows", [""])[0]])
        self.server = opening.server
        self.task = asyncio.create_task(self._session(opening.target))

    async def disconnect(self, code: int) -> None:
        self.browser_gone = True
        task = self.task
        if task is None:
            return
        if not task.done() and not self.finishing:
            task.cancel()
        await asyncio.wait([task])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data:
            self.last_input = time.monotonic()
            self.bytes_in += len(bytes_data)
            if self.process is not None:
                with contextlib.suppress(OSError, asyncssh.Error):  # the shell just exited
                    self.process.stdin.write(bytes_data)
            elif sum(map(len, self.pending_input)) < PENDING_INPUT_LIMIT:
                self.pending_input.append(bytes_data)
            return
        if text_data:
            try:
                message = json.loads(text_data)
            except ValueError:
                return
            if isinstance(message, dict) and "resize" in message:
                self.size = term_size(message["resize"], self.size)
                if self.process is not None:
                    with contextlib.suppress(OSError, asyncssh.Error):
                        self.process.change_terminal_size(*self.size)

    # The session -----------------------------------------------------------------

    async def _session(self, target: Target) -> None:
        """Connect, run the shell until either side ends it, then clean up and record."""
        started = time.monotonic()
        reason, code = "closed in the browser", CLOSE_NORMAL
        connection: asyncssh.SSHClientConnection | None = None
        opened = False
        try:
            await self.send(bytes_data=f"Connecting to {self.server.name}…\r\n".encode())
            try:
                connection = await open_connection(target)
                host_key = host_key_of(connection)
                if not self.server.host_key and host_key:
                    await database_sync_to_async(pin_host_key)(self.server, host_key)
                self.process = await connection.create_process(
                    term_type=TERM_TYPE, term_size=self.size, encoding=None
                )
            except TransportError as error:
                reason, code = error.message, CLOSE_UNREACHABLE
                await self._record_failure(reason)
                await self.send(bytes_data=red(reason))
                return
            except (OSError, asyncssh.Error) as error:
                reason, code = f"The shell did not start: {error}", CLOSE_UNREACHABLE
                await self._record_failure(reason)
                await self.send(bytes_data=red(reason))
                return
            host_fingerprint = fingerprint(host_key) if host_key else ""
            await self._record_opened(host_fingerprint)
            opened, started = True, time.monotonic()
            await self.send(
                text_data=json.dumps(
                    {
                        "status": "connected",
                        "server": self.server.name,
                        "fingerprint": host_fingerprint,
                    }
                )
            )
            for data in self.pending_input:
                self.process.stdin.write(data)
            self.pending_input.clear()
            reason, code = await self._run(self.process)
        except asyncio.CancelledError:
            pass  # the browser went away: `reason` still says so
        finally:
            self.finishing = True
            await self._hang_up(connection)
            if opened:
                await self._record_closed(reason, time.monotonic() - started)
            if not self.browser_gone:
                await self.send(text_data=json.dumps({"status": "closed", "reason": reason}))
                await self.close(code=code)

    async def _run(self, process: asyncssh.SSHClientProcess[bytes]) -> tuple[str, int]:
        """Pump the shell's output to the page until the shell exits or a limit is hit."""
        output = asyncio.create_task(self._forward_output(process))
        watchdog = asyncio.create_task(self._watch())
        try:
            done, _ = await asyncio.wait({output, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            ending = output if output in done else watchdog
            reason, code = ending.result()
        finally:
            for task in (output, watchdog):
                task.cancel()
            await asyncio.wait([output, watchdog])
        if code != CLOSE_NORMAL and not self.browser_gone:
            await self.send(bytes_data=red(f"Closed: {reason}."))
        return reason, code

    async def _forward_output(self, process: asyncssh.SSHClientProcess[bytes]) -> tuple[str, int]:
        try:
            while data := await process.stdout.read(self.read_size):
                self.bytes_out += len(data)
                await self.send(bytes_data=data)
        except (OSError, asyncssh.Error) as error:
            return f"the connection to {self.server.name} dropped: {error}", CLOSE_UNREACHABLE
        return "the shell exited", CLOSE_NORMAL

    async def _watch(self) -> tuple[str, int]:
        """End the session when idle, too long, or when the user may no longer edit."""
        started = time.monotonic()
        next_check = started + self.recheck_seconds
        while True:
            now = time.monotonic()
            idle_end = self.last_input + self.idle_seconds
            total_end = started + self.max_seconds
            if now >= idle_end:
                minutes = max(1, round(self.idle_seconds / 60))
                return f"no input for {minutes} min", CLOSE_IDLE
            if now >= total_end:
                hours = max(1, round(self.max_seconds / 3600))
                return f"a session lasts at most {hours} h", CLOSE_IDLE
            if now >= next_check:
                if await self._opening() is None:
                    return "you may no longer use this server's terminal", CLOSE_REVOKED
                next_check = now + self.recheck_seconds
            await asyncio.sleep(max(0.05, min(idle_end, total_end, next_check) - now))

    async def _hang_up(self, connection: asyncssh.SSHClientConnection | None) -> None:
        """Close the channel and the connection; sshd then hangs up the shell (SIGHUP)."""
        process, self.process = self.process, None
        if process is not None:
            process.close()
        if connection is not None:
            connection.close()
            with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
                await asyncio.wait_for(connection.wait_closed(), 10)

    async def _refuse(self, message: str, code: int) -> None:
        await self.send(bytes_data=red(message))
        await self.send(text_data=json.dumps({"status": "closed", "reason": message}))
        await self.close(code=code)

    # Database ----------------------------------------------------------------------

    @database_sync_to_async
    def _opening(self) -> Opening | None:
        """The server if the user may edit it (else None), and how to reach it."""
        server = (
            Server.objects.for_user(self.user, Action.EDIT)
            .select_related("ssh_key", "team")
            .filter(pk=self.server_id)
            .first()
        )
        if server is None:
            return None
        if server.is_local:
            return Opening(server, None, LOCAL_REFUSAL)
        try:
            return Opening(server, target_of(server))
        except ServerError as error:
            return Opening(server, None, str(error))

    @database_sync_to_async
    def _record_opened(self, host_key_fingerprint: str) -> None:
        cols, rows = self.size
        self._record(
            "terminal.opened",
            details={"host_key_fingerprint": host_key_fingerprint, "cols": cols, "rows": rows},
        )

    @database_sync_to_async
    def _record_failure(self, message: str) -> None:
        self._record("terminal.opened", result=ActivityResult.FAILURE, details={"error": message})

    @database_sync_to_async
    def _record_closed(self, reason: str, seconds: float) -> None:
        self._record(
            "terminal.closed",
            details={
                "reason": reason,
                "duration_seconds": round(seconds, 1),
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
            },
        )

    def _record(self, action: str, **fields: Any) -> None:
        audit.record(
            action,
            actor=self.user,
            team=self.server.team,
            target=self.server,
            source=ActivitySource.WEB,
            ip_address=client_address(self.scope),
            **fields,
        )
