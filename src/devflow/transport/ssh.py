"""SSH transport on asyncssh: one connection per server reused for a whole job.

`SshSession` is a synchronous facade over its own event loop, so job code (in
a worker thread) reads top to bottom; `cancel()` may be called from any thread
and terminates the running remote commands. `FanOut` runs one command on many
servers in a single event loop with a concurrency limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import asyncssh

from devflow.transport.base import LineCallback, Result
from devflow.transport.commands import Command
from devflow.transport.errors import FailureReason, TransportError

# Offered first: cheap on small machines and what OpenSSH, asyncssh and parallel-ssh share.
KEX_ALGS = [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
]


@dataclass(frozen=True)
class Target:
    """How to reach one server. Secrets are excluded from repr."""

    host: str
    port: int = 22
    username: str = "root"
    private_key: str = field(default="", repr=False)
    passphrase: str | None = field(default=None, repr=False)
    pinned_host_key: str = ""  # OpenSSH public key line; empty = trust on first use
    sudo_password: str = field(default="", repr=False)
    connect_timeout: float = 15.0
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.username}@{self.host}:{self.port}"


def fingerprint(public_key_line: str) -> str:
    """SHA256 fingerprint of an OpenSSH public key line, as `ssh-keygen -l` shows it."""
    return str(asyncssh.import_public_key(public_key_line).get_fingerprint("sha256"))


def load_private_key(text: str, passphrase: str | None = None) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_private_key(text, passphrase or None)
    except asyncssh.KeyEncryptionError:
        raise TransportError(
            FailureReason.KEY,
            "The private key is encrypted and the passphrase is wrong or missing.",
        ) from None
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise TransportError(
            FailureReason.KEY, f"That is not a usable private key: {exc}"
        ) from None


def _connect_options(target: Target, key: asyncssh.SSHKey) -> dict[str, Any]:
    known_hosts: Any = None
    if target.pinned_host_key:
        known_hosts = ([asyncssh.import_public_key(target.pinned_host_key)], [], [])
    return {
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "client_keys": [key],
        "known_hosts": known_hosts,
        "config": None,  # never read ~/.ssh/config of the account DevFlow runs as
        "agent_path": None,
        "preferred_auth": ("publickey",),
        "kex_algs": KEX_ALGS,
        "connect_timeout": target.connect_timeout,
        "keepalive_interval": 30,
    }


async def open_connection(
    target: Target, key: asyncssh.SSHKey | None = None
) -> asyncssh.SSHClientConnection:
    """Connect and authenticate, turning every failure into a TransportError with a reason."""
    key = key or load_private_key(target.private_key, target.passphrase)
    where = f"{target.host}:{target.port}"
    try:
        return await asyncssh.connect(**_connect_options(target, key))
    except asyncssh.HostKeyNotVerifiable:
        presented = await _presented_fingerprint(target)
        expected = fingerprint(target.pinned_host_key)
        raise TransportError(
            FailureReason.HOST_KEY_CHANGED,
            f"The host key of {where} changed: expected {expected}, the server presented "
            f"{presented or 'another key'}. This happens after a reinstall, or when someone "
            "intercepts the connection. Nothing was run. Check with the server's owner, then "
            "re-trust the new key on the server's page.",
            presented_fingerprint=presented,
        ) from None
    except asyncssh.PermissionDenied:
        raise TransportError(
            FailureReason.AUTH,
            f"{where} refused the key for user {target.username!r}: add the public key to "
            f"~{target.username}/.ssh/authorized_keys there, or pick the right key.",
        ) from None
    except socket.gaierror:
        raise TransportError(
            FailureReason.DNS, f"The name {target.host!r} does not resolve (DNS)."
        ) from None
    except ConnectionRefusedError:
        raise TransportError(
            FailureReason.REFUSED,
            f"{where} refused the connection: is sshd running and listening on port {target.port}?",
        ) from None
    except TimeoutError:
        raise TransportError(
            FailureReason.TIMEOUT,
            f"No answer from {where} within {target.connect_timeout:g} s "
            "(firewall, wrong address, or the server is down).",
        ) from None
    except asyncssh.DisconnectError as exc:
        raise TransportError(
            FailureReason.DISCONNECTED, f"{where} closed the connection: {exc.reason}"
        ) from None
    except OSError as exc:
        raise TransportError(
            FailureReason.UNREACHABLE, f"Cannot reach {where}: {exc.strerror or exc}"
        ) from None


async def _presented_fingerprint(target: Target) -> str:
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(target.host, target.port, config=None),
            target.connect_timeout,
        )
    except (OSError, asyncssh.Error, TimeoutError):
        return ""
    return str(key.get_fingerprint("sha256")) if key is not None else ""


def fetch_host_key(host: str, port: int, timeout: float = 20) -> str:
    """The host key a server presents now (OpenSSH line), without logging in."""

    async def fetch() -> str:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, config=None), timeout)
        return key.export_public_key().decode().strip() if key is not None else ""

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="host-key") as pool:
        try:
            return pool.submit(asyncio.run, fetch()).result()
        except (OSError, asyncssh.Error, TimeoutError) as error:
            raise TransportError(
                FailureReason.UNREACHABLE, f"Could not read the host key of {host}:{port}: {error}"
            ) from None


def host_key_of(connection: asyncssh.SSHClientConnection) -> str:
    key = connection.get_server_host_key()
    return key.export_public_key().decode().strip() if key is not None else ""


def prepare(command: Command, target: Target) -> Command:
    """Add sudo for non-root users when the command asks for it."""
    if command.sudo and target.username != "root":
        return command.with_sudo(target.sudo_password or None)
    return command


# Every remote command starts through this wrapper, which reports its PID on stderr before
# exec'ing the command: OpenSSH ignores signal requests on non-tty channels and keeps a
# command running after its channel closes, so stopping one means `kill` by PID.
PID_MARKER = "__devflow_pid="
WRAPPER = f'echo "{PID_MARKER}$$" >&2; exec "$@"'


def wrapped_line(command: Command) -> str:
    return Command.of("sh", "-c", WRAPPER, "devflow", *command.argv).shell_line()


async def execute(
    connection: asyncssh.SSHClientConnection,
    command: Command,
    *,
    on_line: LineCallback | None = None,
    timeout: float | None = None,
    open_timeout: float | None = None,
) -> Result:
    """Run one command on an open connection, streaming lines, honouring the timeout.

    `open_timeout` bounds the opening of the channel: a kept connection whose server vanished
    without a word would otherwise wait there until the keepalives give up."""
    process = await asyncio.wait_for(
        connection.create_process(wrapped_line(command), encoding="utf-8", errors="replace"),
        open_timeout,
    )
    out: dict[str, list[str]] = {"stdout": [], "stderr": []}
    pid: list[str] = []

    async def read(stream: Any, name: str) -> None:
        async for line in stream:
            if line == "":
                continue  # end of stream, not an empty line (those arrive as "\n")
            text = line.rstrip("\n")
            if name == "stderr" and not pid and text.startswith(PID_MARKER):
                pid.append(text[len(PID_MARKER) :])
                continue
            out[name].append(text)
            if on_line is not None:
                on_line(name, text)

    if command.stdin:
        process.stdin.write(command.stdin)
    process.stdin.write_eof()
    timed_out = cancelled = False
    readers = asyncio.gather(read(process.stdout, "stdout"), read(process.stderr, "stderr"))
    exit_status = -1
    try:
        await asyncio.wait_for(asyncio.shield(readers), timeout)
        completed = await process.wait()
        exit_status = completed.exit_status if completed.exit_status is not None else -1
    except TimeoutError:
        timed_out = True
    except asyncio.CancelledError:
        cancelled = True
    if timed_out or cancelled:
        readers.cancel()
        readers.add_done_callback(lambda done: done.cancelled() or done.exception())
        await _terminate_remote(connection, pid[0] if pid else "")
        process.close()
    stdout, stderr = "\n".join(out["stdout"]), "\n".join(out["stderr"])
    return Result(exit_status, stdout, stderr, timed_out=timed_out, cancelled=cancelled)


async def run_steps(
    connection: asyncssh.SSHClientConnection,
    steps: list[Command],
    *,
    timeout: float | None,
    open_timeout: float | None = None,
) -> Result:
    """Run commands one after another; stop at the first that fails. Output is combined."""
    stdout: list[str] = []
    stderr: list[str] = []
    result = Result(0, "", "")
    for step in steps:
        result = await execute(connection, step, timeout=timeout, open_timeout=open_timeout)
        if len(steps) > 1:
            stdout.append(f"$ {step.describe()}")
        stdout.extend(filter(None, [result.stdout]))
        stderr.extend(filter(None, [result.stderr]))
        if not result.ok:
            break
    return Result(
        result.exit_status,
        "\n".join(stdout),
        "\n".join(stderr),
        timed_out=result.timed_out,
        cancelled=result.cancelled,
    )


async def _terminate_remote(connection: asyncssh.SSHClientConnection, pid: str) -> None:
    """TERM the command and its children, KILL them 3 s later if still there."""
    if not pid.isdigit():
        return
    script = (
        'kill -TERM "$1" 2>/dev/null; pkill -TERM -P "$1" 2>/dev/null; '
        '( sleep 3; kill -KILL "$1" 2>/dev/null; pkill -KILL -P "$1" 2>/dev/null ) '
        ">/dev/null 2>&1 </dev/null & exit 0"
    )
    with contextlib.suppress(OSError, asyncssh.Error, TimeoutError, asyncio.TimeoutError):
        await asyncio.wait_for(
            connection.run(Command.script(script, pid).shell_line(), check=False), 10
        )


class SshSession:
    """One reusable SSH connection to one server, with a synchronous interface."""

    def __init__(self, target: Target) -> None:
        self.target = target
        # The session's own loop runs in its own thread, so callers may be plain threads
        # (Celery) or threads that already run a loop (tests, ASGI) alike.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"ssh-{target.name}", daemon=True
        )
        self._thread.start()
        self._connection: asyncssh.SSHClientConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancelled = threading.Event()
        self.host_key = ""
        self.host_key_fingerprint = ""

    # Lifecycle ---------------------------------------------------------
    def connect(self) -> SshSession:
        if self._connection is None:
            self._connection = self._call(open_connection(self.target))
            self.host_key = host_key_of(self._connection)
            self.host_key_fingerprint = fingerprint(self.host_key) if self.host_key else ""
        return self

    def close(self) -> None:
        if self._loop.is_closed():
            return
        connection, self._connection = self._connection, None
        if connection is not None:

            async def disconnect() -> None:
                connection.close()
                await connection.wait_closed()

            with contextlib.suppress(OSError, asyncssh.Error, TransportError):
                self._call(disconnect())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> SshSession:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Terminate whatever runs now (safe from any thread); later calls fail fast."""
        self._cancelled.set()
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._cancel_in_loop)

    def _cancel_in_loop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # Commands ----------------------------------------------------------
    def run(self, command: Command, timeout: float | None = None) -> Result:
        return self.stream(command, on_line=None, timeout=timeout)

    def stream(
        self, command: Command, on_line: LineCallback | None, timeout: float | None = None
    ) -> Result:
        if self._cancelled.is_set():
            return Result(-1, "", "", cancelled=True)
        self.connect()
        assert self._connection is not None
        prepared = prepare(command, self.target)
        return self._call(execute(self._connection, prepared, on_line=on_line, timeout=timeout))

    # Files -------------------------------------------------------------
    def put_file(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        """Write `data` to `remote_path` atomically (temporary name, then rename)."""
        self.connect()
        assert self._connection is not None
        connection = self._connection
        path = PurePosixPath(remote_path)
        temporary = str(path.with_name(f".{path.name}.devflow-tmp"))

        async def upload() -> None:
            async with connection.start_sftp_client() as sftp:
                async with sftp.open(temporary, "wb") as handle:
                    await handle.write(data)
                await sftp.chmod(temporary, mode)
                await sftp.posix_rename(temporary, str(path))

        self._call(upload())

    def get_file(self, remote_path: str) -> bytes:
        self.connect()
        assert self._connection is not None
        connection = self._connection

        async def download() -> bytes:
            async with (
                connection.start_sftp_client() as sftp,
                sftp.open(remote_path, "rb") as handle,
            ):
                data = await handle.read()
                return data if isinstance(data, bytes) else data.encode()

        return self._call(download())

    # Plumbing ----------------------------------------------------------
    def _call(self, coroutine: Any) -> Any:
        async def tracked() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                return await coroutine
            finally:
                self._tasks.discard(task)

        future = asyncio.run_coroutine_threadsafe(tracked(), self._loop)
        try:
            return future.result()
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            raise TransportError(FailureReason.CANCELLED, "Cancelled by request.") from None
        except asyncssh.SFTPError as exc:
            raise TransportError(
                FailureReason.OTHER, f"File transfer failed: {exc.reason}"
            ) from None
        except asyncssh.DisconnectError as exc:
            self._connection = None
            raise TransportError(
                FailureReason.DISCONNECTED,
                f"{self.target.name} closed the connection: {exc.reason}",
            ) from None
        except asyncssh.ChannelOpenError as exc:
            self._connection = None
            raise TransportError(
                FailureReason.DISCONNECTED,
                f"{self.target.name} dropped the connection ({exc.reason}); it may be rebooting.",
            ) from None


@dataclass
class FanOutResult:
    """What one server answered in a fan-out."""

    index: int
    target: Target
    result: Result | None = None
    error: TransportError | None = None
    seconds: float = 0.0  # connect + run, as measured in the event loop

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok


class FanOut:
    """Run one command on many servers at once, `limit` connections at a time."""

    def __init__(
        self,
        targets: Sequence[Target],
        command: Command | Callable[[Target], Command | list[Command]],
        *,
        limit: int = 50,
        timeout: float | None = 60,
        on_result: Callable[[FanOutResult], None] | None = None,
        on_start: Callable[[int, Target], None] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.command = command
        self.limit = max(1, limit)
        self.timeout = timeout
        self.on_result = on_result
        self.on_start = on_start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._cancelled = threading.Event()
        self._report: Callable[[tuple[str, FanOutResult | None]], None] = lambda event: None

    def run(self) -> list[FanOutResult]:
        """Run everywhere; `on_start`/`on_result` are called in this thread as servers go."""
        # The event loop gets a thread of its own (the caller may already run one); results
        # come back through a queue so callbacks may use the database and other blocking code.
        events: queue.Queue[tuple[str, FanOutResult | None]] = queue.Queue()
        self._report = events.put
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fan-out") as pool:
            future = pool.submit(asyncio.run, self._run_all())
            # A marker after the last event, so the wait ends at once instead of on a timeout.
            future.add_done_callback(lambda done: events.put(("done", None)))
            while True:
                event, item = events.get()
                if event == "done":
                    break
                assert item is not None
                if event == "start" and self.on_start is not None:
                    self.on_start(item.index, item.target)
                elif event == "result" and self.on_result is not None:
                    self.on_result(item)
            return future.result()

    def cancel(self) -> None:
        self._cancelled.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            loop.call_soon_threadsafe(main.cancel)

    async def _run_all(self) -> list[FanOutResult]:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        semaphore = asyncio.Semaphore(self.limit)
        keys: dict[tuple[str, str | None], asyncssh.SSHKey] = {}
        results = [FanOutResult(i, target) for i, target in enumerate(self.targets)]

        async def one(item: FanOutResult) -> None:
            async with semaphore:
                if self._cancelled.is_set():
                    item.error = TransportError(FailureReason.CANCELLED, "Cancelled by request.")
                    return
                self._report(("start", item))
                started = time.monotonic()
                try:
                    item.result = await self._one(item.target, keys)
                except TransportError as exc:
                    item.error = exc
                except asyncio.CancelledError:
                    item.error = TransportError(FailureReason.CANCELLED, "Cancelled by request.")
                except (OSError, asyncssh.Error) as exc:
                    item.error = TransportError(FailureReason.OTHER, f"{type(exc).__name__}: {exc}")
                item.seconds = time.monotonic() - started
            self._report(("result", item))

        try:
            await asyncio.gather(*(one(item) for item in results))
        except asyncio.CancelledError:
            for item in results:
                if item.result is None and item.error is None:
                    item.error = TransportError(FailureReason.CANCELLED, "Cancelled by request.")
        return results

    async def _one(
        self, target: Target, keys: dict[tuple[str, str | None], asyncssh.SSHKey]
    ) -> Result:
        cache_key = (target.private_key, target.passphrase)
        if cache_key not in keys:  # parse each distinct key once for the whole fan-out
            keys[cache_key] = load_private_key(target.private_key, target.passphrase)
        planned = self.command(target) if callable(self.command) else self.command
        steps = planned if isinstance(planned, list) else [planned]
        connection = await open_connection(target, keys[cache_key])
        try:
            return await run_steps(
                connection, [prepare(step, target) for step in steps], timeout=self.timeout
            )
        finally:
            connection.close()
