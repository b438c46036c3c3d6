"""SSH connections kept open between runs: one per server, for the whole worker process.

A metrics collection touches every server each minute; opening a fresh SSH connection each
time costs a key exchange and an authentication on both ends, which is most of the work. The
pool keeps one authenticated asyncssh connection per server and opens only an exec channel on
it per command.

asyncssh connections belong to the event loop that made them, so the pool runs ONE long-lived
loop in a daemon thread of its own, and callers (plain worker threads) hand it work and wait.
A connection is keyed by everything that decides who we talk to and as whom (host, port, user,
client key, pinned host key): when any of them changes, a new connection is opened and the old
one ages out. A kept connection that fails on use (the server restarted, the network dropped it)
is dropped and the command is run once more on a fresh connection, so commands run through the
pool must be safe to run twice (reading metrics is). Connections unused for `idle_seconds` are
closed; beyond `max_connections` the least recently used idle ones are closed.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from devflow.transport.base import Result
from devflow.transport.commands import Command
from devflow.transport.errors import FailureReason, TransportError
from devflow.transport.ssh import (
    FanOutResult,
    Target,
    load_private_key,
    open_connection,
    prepare,
    run_steps,
)

DEFAULT_IDLE_SECONDS = 300.0
DEFAULT_MAX_CONNECTIONS = 2000

PlannedCommand = Command | Callable[[Target], Command | list[Command]]
# What a kept connection raises when it turns out to be dead; TimeoutError (an OSError) is the
# channel that never opened.
CONNECTION_FAILURES = (asyncssh.Error, OSError)


def key_of(target: Target) -> tuple[str, int, str, str, str]:
    """What identifies a connection: where, as whom, with which key, trusting which host key.

    The client key counts by a digest of its text (and passphrase), so a kept connection is
    found again without decrypting the key each run."""
    secret = f"{target.private_key}\0{target.passphrase or ''}".encode()
    return (
        target.host,
        target.port,
        target.username,
        hashlib.sha256(secret).hexdigest(),
        target.pinned_host_key.strip(),
    )


def cancelled_error() -> TransportError:
    return TransportError(FailureReason.CANCELLED, "Cancelled by request.")


@dataclass
class _Entry:
    """One kept connection (or the one being opened), touched only in the pool's loop."""

    connection: asyncssh.SSHClientConnection | None = None
    opening: asyncio.Task[asyncssh.SSHClientConnection] | None = None
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expiry: asyncio.TimerHandle | None = None


class ConnectionPool:
    """Kept SSH connections on one event loop of their own; safe to use from any thread."""

    def __init__(
        self,
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.idle_seconds = idle_seconds  # <= 0: close each connection once its run is over
        self.max_connections = max(1, max_connections)
        self.opened = 0  # connections opened so far (for tests and benchmarks)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._entries: OrderedDict[tuple[str, int, str, str, str], _Entry] = OrderedDict()

    # Public, from any thread ----------------------------------------------
    def fan_out(
        self,
        targets: Sequence[Target],
        command: PlannedCommand,
        *,
        limit: int = 50,
        timeout: float | None = 60,
        on_result: Callable[[FanOutResult], None] | None = None,
    ) -> PooledFanOut:
        """A run of `command` on every target over kept connections; `.run()` starts it."""
        return PooledFanOut(
            self, targets, command, limit=limit, timeout=timeout, on_result=on_result
        )

    def run_many(
        self,
        targets: Sequence[Target],
        command: PlannedCommand,
        *,
        limit: int = 50,
        timeout: float | None = 60,
        on_result: Callable[[FanOutResult], None] | None = None,
    ) -> list[FanOutResult]:
        """Run `command` on every target and wait; `on_result` is called in this thread."""
        return self.fan_out(
            targets, command, limit=limit, timeout=timeout, on_result=on_result
        ).run()

    def size(self) -> int:
        """How many connections are open (or being opened) now."""
        return int(self.call(self._size()))

    def close_all(self, timeout: float = 10) -> None:
        """Close every kept connection (shutdown, tests); the pool stays usable."""
        with self._lock:
            loop = self._loop if self._pid == os.getpid() else None
        if loop is None or loop.is_closed() or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            future.result(timeout)

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the pool's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result()

    def loop(self) -> asyncio.AbstractEventLoop:
        """The pool's event loop, started on first use (and again in a forked child)."""
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if self._loop is None or self._pid != os.getpid() or not alive:
                # A forked child inherits the sockets but not the thread: start afresh.
                self._entries = OrderedDict()
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="ssh-pool", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            return self._loop

    # In the loop -----------------------------------------------------------
    async def run_one(
        self,
        target: Target,
        steps: list[Command],
        *,
        timeout: float | None,
        keys: dict[tuple[str, str | None], asyncssh.SSHKey],
    ) -> Result:
        """Run `steps` over the kept connection to `target`, retrying once on a fresh one if
        the kept connection turns out to be dead. Connection failures raise TransportError."""
        key = key_of(target)
        prepared = [prepare(step, target) for step in steps]
        for attempt in (1, 2):
            connection, fresh = await self._acquire(key, target, keys)
            try:
                result = await run_steps(
                    connection, prepared, timeout=timeout, open_timeout=target.connect_timeout
                )
            except CONNECTION_FAILURES:
                self._drop(key, connection)
                if fresh or attempt == 2:
                    raise
                continue
            finally:
                self._release(key, connection)
            if connection.is_closed():
                self._drop(key, connection)
                died = not (result.ok or result.timed_out or result.cancelled)
                if died and not fresh and attempt == 1:
                    continue  # it died under the command: once more, on a fresh connection
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(
        self,
        key: tuple[str, int, str, str, str],
        target: Target,
        keys: dict[tuple[str, str | None], asyncssh.SSHKey],
    ) -> tuple[asyncssh.SSHClientConnection, bool]:
        """The kept connection for `key` (fresh=False) or a new one (fresh=True), marked in use."""
        entry = self._entries.get(key)
        if entry is not None and entry.connection is not None and entry.connection.is_closed():
            self._drop(key, entry.connection)  # the server hung up while it was idle
            entry = None
        fresh = False
        if entry is None:
            entry = _Entry()
            self._entries[key] = entry
            self._evict()
        self._entries.move_to_end(key)
        entry.users += 1
        if entry.expiry is not None:
            entry.expiry.cancel()
            entry.expiry = None
        try:
            if entry.connection is None:
                if entry.opening is None:
                    opening = asyncio.get_running_loop().create_task(self._open(target, keys))
                    # Runs before the waiters resume, and also when every waiter was cancelled.
                    opening.add_done_callback(lambda task: self._opened(key, entry, task))
                    entry.opening = opening
                fresh = True  # opened for this use (by this caller or a concurrent one)
                # Shielded: one waiter's cancellation must not cancel the others' connect.
                connection = await asyncio.shield(entry.opening)
                if self._entries.get(key) is not entry or entry.connection is not connection:
                    raise asyncssh.ConnectionLost("The connection was closed meanwhile.")
            return entry.connection, fresh
        except BaseException:
            self._release(key, None, entry)
            if entry.users == 0 and entry.connection is None and entry.opening is None:
                self._forget(key, entry)
            raise

    def _opened(
        self,
        key: tuple[str, int, str, str, str],
        entry: _Entry,
        task: asyncio.Task[asyncssh.SSHClientConnection],
    ) -> None:
        """An opening finished: keep the connection it made, or forget the failed attempt."""
        if entry.opening is task:
            entry.opening = None
        if task.cancelled() or task.exception() is not None:
            if entry.users == 0 and entry.connection is None:
                self._forget(key, entry)
            return
        connection = task.result()
        if self._entries.get(key) is not entry or entry.connection is not None:
            connection.close()  # close_all() ran meanwhile
        else:
            entry.connection = connection
            if entry.users == 0:  # every waiter gave up: keep it, as an idle one
                self._idle(key, entry)

    async def _open(
        self, target: Target, keys: dict[tuple[str, str | None], asyncssh.SSHKey]
    ) -> asyncssh.SSHClientConnection:
        cache_key = (target.private_key, target.passphrase)
        if cache_key not in keys:  # parse each distinct key once per run
            keys[cache_key] = load_private_key(target.private_key, target.passphrase)
        connection = await open_connection(target, keys[cache_key])
        self.opened += 1
        return connection

    def _release(
        self,
        key: tuple[str, int, str, str, str],
        connection: asyncssh.SSHClientConnection | None,
        entry: _Entry | None = None,
    ) -> None:
        entry = entry or self._entries.get(key)
        if entry is None or (connection is not None and entry.connection is not connection):
            return  # dropped meanwhile: its users count died with it
        entry.users = max(0, entry.users - 1)
        if entry.users == 0 and entry.connection is not None:
            self._idle(key, entry)

    def _idle(self, key: tuple[str, int, str, str, str], entry: _Entry) -> None:
        """Nobody uses the connection now: close it after `idle_seconds` unless used again."""
        assert entry.connection is not None
        entry.last_used = time.monotonic()
        if entry.expiry is not None:
            entry.expiry.cancel()
            entry.expiry = None
        if self.idle_seconds <= 0:
            self._drop(key, entry.connection)
        else:
            loop = asyncio.get_running_loop()
            entry.expiry = loop.call_later(self.idle_seconds, self._expire, key, entry)

    def _expire(self, key: tuple[str, int, str, str, str], entry: _Entry) -> None:
        entry.expiry = None
        if self._entries.get(key) is entry and entry.users == 0 and entry.connection is not None:
            if time.monotonic() - entry.last_used >= self.idle_seconds * 0.99:
                self._drop(key, entry.connection)
            else:  # used since: look again when this use has aged out
                delay = self.idle_seconds - (time.monotonic() - entry.last_used)
                entry.expiry = asyncio.get_running_loop().call_later(
                    delay, self._expire, key, entry
                )

    def _drop(
        self, key: tuple[str, int, str, str, str], connection: asyncssh.SSHClientConnection
    ) -> None:
        """Forget and close `connection` if it is still the one kept for `key`."""
        entry = self._entries.get(key)
        if entry is not None and entry.connection is connection:
            self._forget(key, entry)
        connection.close()

    def _forget(self, key: tuple[str, int, str, str, str], entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
        if entry.expiry is not None:
            entry.expiry.cancel()
            entry.expiry = None

    def _evict(self) -> None:
        """Close the least recently used idle connections beyond the size cap."""
        excess = len(self._entries) - self.max_connections
        for key, entry in list(self._entries.items()):
            if excess <= 0:
                break
            if entry.users == 0 and entry.connection is not None:
                self._drop(key, entry.connection)
                excess -= 1

    def _sweep(self) -> None:
        """Close the idle connections past the idle limit (it may have been lowered)."""
        now = time.monotonic()
        for key, entry in list(self._entries.items()):
            idle = now - entry.last_used
            if entry.users == 0 and entry.connection is not None and idle >= self.idle_seconds:
                self._drop(key, entry.connection)

    async def _size(self) -> int:
        return len(self._entries)

    async def _close_all(self) -> None:
        entries, self._entries = list(self._entries.values()), OrderedDict()
        connections = []
        for entry in entries:
            if entry.expiry is not None:
                entry.expiry.cancel()
            if entry.opening is not None:
                entry.opening.cancel()
            if entry.connection is not None:
                entry.connection.close()
                connections.append(entry.connection)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(c.wait_closed() for c in connections), return_exceptions=True),
                5,
            )


class PooledFanOut:
    """One command on many servers over a pool's kept connections (FanOut's interface)."""

    def __init__(
        self,
        pool: ConnectionPool,
        targets: Sequence[Target],
        command: PlannedCommand,
        *,
        limit: int = 50,
        timeout: float | None = 60,
        on_result: Callable[[FanOutResult], None] | None = None,
    ) -> None:
        self.pool = pool
        self.targets = list(targets)
        self.command = command
        self.limit = max(1, limit)
        self.timeout = timeout
        self.on_result = on_result
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._report: Callable[[tuple[str, FanOutResult | None]], None] = lambda event: None

    def run(self) -> list[FanOutResult]:
        """Run everywhere; `on_result` is called in this thread as servers answer."""
        events: queue.Queue[tuple[str, FanOutResult | None]] = queue.Queue()
        self._report = events.put
        future = asyncio.run_coroutine_threadsafe(self._run_all(), self.pool.loop())
        future.add_done_callback(lambda done: events.put(("done", None)))
        try:
            while True:
                event, item = events.get()
                if event == "done":
                    break
                if event == "result" and item is not None and self.on_result is not None:
                    self.on_result(item)
        except BaseException:
            self.cancel()  # a callback failed: stop the run before raising
            with contextlib.suppress(Exception):
                future.result(60)
            raise
        return future.result()

    def cancel(self) -> None:
        """Stop the run (from any thread): running commands are terminated, none start."""
        self._cancelled.set()
        with self._lock:
            loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            loop.call_soon_threadsafe(main.cancel)

    async def _run_all(self) -> list[FanOutResult]:
        with self._lock:
            self._loop, self._main = asyncio.get_running_loop(), asyncio.current_task()
        self.pool._sweep()
        semaphore = asyncio.Semaphore(self.limit)
        keys: dict[tuple[str, str | None], asyncssh.SSHKey] = {}
        results = [FanOutResult(i, target) for i, target in enumerate(self.targets)]

        async def one(item: FanOutResult) -> None:
            async with semaphore:
                if self._cancelled.is_set():
                    item.error = cancelled_error()
                    return
                started = time.monotonic()
                try:
                    planned = self.command(item.target) if callable(self.command) else self.command
                    steps = planned if isinstance(planned, list) else [planned]
                    item.result = await self.pool.run_one(
                        item.target, steps, timeout=self.timeout, keys=keys
                    )
                except TransportError as exc:
                    item.error = exc
                except asyncio.CancelledError:
                    item.error = cancelled_error()
                except CONNECTION_FAILURES as exc:
                    item.error = TransportError(FailureReason.OTHER, f"{type(exc).__name__}: {exc}")
                item.seconds = time.monotonic() - started
            self._report(("result", item))

        try:
            if self._cancelled.is_set():
                raise asyncio.CancelledError
            await asyncio.gather(*(one(item) for item in results))
        except asyncio.CancelledError:
            for item in results:
                if item.result is None and item.error is None:
                    item.error = cancelled_error()
        return results


_shared: ConnectionPool | None = None
_shared_lock = threading.Lock()


def shared(idle_seconds: float | None = None) -> ConnectionPool:
    """The process-wide pool (created on first use); `idle_seconds` updates its idle limit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ConnectionPool()
            atexit.register(_shared.close_all, 2)
        if idle_seconds is not None:
            _shared.idle_seconds = idle_seconds
        return _shared
