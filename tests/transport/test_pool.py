"""Kept SSH connections (transport/pool.py) against real sshd processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from devflow.transport.commands import Command
from devflow.transport.errors import FailureReason
from devflow.transport.pool import ConnectionPool, key_of, shared
from devflow.transport.ssh import FanOut, FanOutResult, Target
from tests.conftest import SshServer, free_port, target_for, wait_for

pytestmark = pytest.mark.services

# Who the server thinks we are: client address and port, server address and port, and the
# sshd process serving this connection (the shell's parent).
WHO = Command.of("sh", "-c", 'echo "$SSH_CONNECTION $PPID"')


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    kept = ConnectionPool()
    yield kept
    kept.close_all()


def who(pool: ConnectionPool, target: Target) -> str:
    [item] = pool.run_many([target], WHO)
    assert item.error is None, item.error
    assert item.result is not None and item.result.ok, item.result
    return item.result.stdout


def logins(server: SshServer) -> int:
    """Connections the sshd accepted (its log has one line per authenticated connection)."""
    return (server.folder / "sshd.log").read_text().count("Accepted publickey")


def sessions(server: SshServer) -> list[psutil.Process]:
    """The processes sshd forked for its connections (none once every connection is closed)."""
    listener = psutil.Process(int((server.folder / "sshd.pid").read_text()))
    return listener.children(recursive=True)


def restart(server: SshServer) -> None:
    """Start the server's sshd again, on the same port with the same host key."""
    config = server.folder / "sshd_config"
    subprocess.run(["/usr/sbin/sshd", "-f", str(config), "-E", str(server.folder / "sshd.log")])

    def listening() -> bool:
        try:
            with socket.create_connection((server.host, server.port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_for(listening, 10, "sshd again")


def outcome(item: FanOutResult) -> tuple[str, str]:
    assert item.error is not None, item.result
    return item.error.reason, item.error.message


def test_the_second_run_reuses_the_connection(pool, sshd_server):
    target = target_for(sshd_server, pinned_host_key=sshd_server.host_public_key)
    first, second = who(pool, target), who(pool, target)
    assert first == second  # same client port, same sshd process
    assert first.split()[3] == str(sshd_server.port)
    assert logins(sshd_server) == 1 and pool.opened == 1 and pool.size() == 1


def test_the_same_server_twice_at_once_shares_one_connection(pool, sshd_server):
    target = target_for(sshd_server)
    results = pool.run_many([target, target, target], WHO)
    outputs = {item.result.stdout for item in results if item.ok and item.result is not None}
    assert len(outputs) == 1  # three channels on one connection
    assert logins(sshd_server) == 1 and pool.opened == 1


def test_callbacks_run_in_the_calling_thread_and_every_server_answers(pool, sshd_factory):
    servers = [sshd_factory() for _ in range(3)]
    targets = [target_for(s, label=f"s{i}") for i, s in enumerate(servers)]
    called_in: set[threading.Thread] = set()
    seen: list[str] = []

    def on_result(item: FanOutResult) -> None:
        called_in.add(threading.current_thread())
        seen.append(item.target.label)

    for _ in range(2):
        results = pool.run_many(targets, WHO, limit=2, on_result=on_result)
        for item, server in zip(results, servers, strict=True):
            assert item.ok and item.result is not None
            assert item.result.stdout.split()[3] == str(server.port)
    assert called_in == {threading.current_thread()}
    assert sorted(seen) == ["s0", "s0", "s1", "s1", "s2", "s2"]
    assert pool.opened == 3 and [logins(s) for s in servers] == [1, 1, 1]


def test_a_restarted_server_gets_a_fresh_connection(pool, sshd_server):
    target = target_for(sshd_server, pinned_host_key=sshd_server.host_public_key)
    before = who(pool, target)
    sshd_server.kill_all()  # the server "reboots": sshd and every session die
    restart(sshd_server)
    after = who(pool, target)
    assert after != before  # another client port, another sshd process
    assert after.split()[3] == before.split()[3] == str(sshd_server.port)
    assert pool.opened == 2 and pool.size() == 1
    assert who(pool, target) == after  # and that one is kept in turn


def test_a_kept_connection_that_hangs_is_dropped_and_the_command_runs_on_a_fresh_one(
    pool, sshd_server
):
    # The sshd process serving the kept connection freezes (still connected, never answers):
    # opening a channel times out, and the command runs again on a new connection.
    target = target_for(sshd_server, connect_timeout=2)
    before = who(pool, target)
    frozen = sessions(sshd_server)
    assert frozen
    for process in frozen:
        process.send_signal(signal.SIGSTOP)
    try:
        after = who(pool, target)
    finally:
        for process in frozen:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)
    assert after != before
    assert logins(sshd_server) == 2 and pool.opened == 2 and pool.size() == 1


def test_the_retry_happens_once_and_then_reports_the_error_as_fan_out_does(pool, sshd_server):
    target = target_for(sshd_server, connect_timeout=2)
    who(pool, target)
    listener = psutil.Process(int((sshd_server.folder / "sshd.pid").read_text()))
    frozen = [*sessions(sshd_server), listener]  # now nothing answers, new connections neither
    for process in frozen:
        process.send_signal(signal.SIGSTOP)
    try:
        [pooled] = pool.run_many([target], WHO)
        [fanned] = FanOut([target], WHO).run()
    finally:
        for process in frozen:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)
    assert outcome(pooled) == outcome(fanned)
    assert pooled.error is not None and pooled.error.reason == FailureReason.TIMEOUT
    assert pool.opened == 1 and pool.size() == 0  # the retry found no server; nothing kept


def test_a_changed_host_key_or_port_is_not_reused(pool, sshd_factory):
    server, other = sshd_factory(), sshd_factory()
    target = target_for(server, pinned_host_key=server.host_public_key)
    first = who(pool, target)
    # Same address and port, but another key pinned: never served by the kept connection.
    impostor = target_for(server, pinned_host_key=other.host_public_key)
    [changed] = pool.run_many([impostor], WHO)
    [fanned] = FanOut([impostor], WHO).run()
    assert outcome(changed) == outcome(fanned)
    assert changed.error is not None and changed.error.reason == FailureReason.HOST_KEY_CHANGED
    # Another port (another sshd), same everything else: its own connection.
    moved = who(pool, target_for(other, pinned_host_key=other.host_public_key))
    assert moved.split()[3] == str(other.port)
    assert who(pool, target) == first  # the first connection is still the one kept for it
    assert logins(server) == 1 and logins(other) == 1 and pool.size() == 2
    assert key_of(target) != key_of(impostor)


def test_another_client_key_or_user_is_another_connection():
    target = Target(host="h", port=22, username="root", private_key="A", pinned_host_key="K")
    assert key_of(target) == key_of(Target(host="h", private_key="A", pinned_host_key="K "))
    for changed in (
        Target(host="h", port=22, username="root", private_key="B", pinned_host_key="K"),
        Target(host="h", port=22, username="deploy", private_key="A", pinned_host_key="K"),
        Target(host="h", port=2222, username="root", private_key="A", pinned_host_key="K"),
        Target(host="g", port=22, username="root", private_key="A", pinned_host_key="K"),
        Target(host="h", private_key="A", passphrase="p", pinned_host_key="K"),
    ):
        assert key_of(changed) != key_of(target)


def test_idle_connections_are_closed(sshd_server):
    pool = ConnectionPool(idle_seconds=0.5)
    try:
        target = target_for(sshd_server)
        who(pool, target)
        assert sessions(sshd_server)  # the kept connection, on the server's side
        wait_for(lambda: pool.size() == 0, 20, "the idle connection to be closed")
        wait_for(lambda: not sessions(sshd_server), 20, "sshd to see the connection closed")
        who(pool, target)  # a new one is opened when needed
        assert pool.opened == 2
    finally:
        pool.close_all()


def test_keeping_nothing_closes_each_connection_after_its_run(sshd_server):
    pool = ConnectionPool(idle_seconds=0)
    try:
        target = target_for(sshd_server)
        first, second = who(pool, target), who(pool, target)
        assert first != second and pool.opened == 2 and pool.size() == 0
    finally:
        pool.close_all()


def test_the_least_recently_used_connection_goes_beyond_the_size_cap(sshd_factory):
    pool = ConnectionPool(max_connections=2)
    try:
        servers = [sshd_factory() for _ in range(3)]
        targets = [target_for(s) for s in servers]
        first = [who(pool, t) for t in targets[:2]]
        assert who(pool, targets[0]) == first[0]  # server 0 is now the most recently used
        who(pool, targets[2])  # one too many: server 1's connection is closed
        assert pool.size() == 2
        assert who(pool, targets[0]) == first[0]
        assert who(pool, targets[1]) != first[1]
        assert [logins(s) for s in servers] == [1, 2, 1]
    finally:
        pool.close_all()


def test_close_all_closes_every_connection_and_the_pool_goes_on(pool, sshd_server):
    target = target_for(sshd_server)
    before = who(pool, target)
    pool.close_all()
    assert pool.size() == 0
    wait_for(lambda: not sessions(sshd_server), 20, "sshd to see the connection closed")
    assert who(pool, target) != before


def test_errors_read_as_fan_out_reports_them(pool, shared_sshd, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    key = shared_sshd.client_key.read_text()
    targets = [
        Target(host="127.0.0.1", port=free_port(), private_key=key, label="closed port"),
        target_for(shared_sshd, private_key=(tmp_path / "k").read_text(), label="wrong key"),
        Target(host="127.0.0.1", private_key="hello", label="not a key"),
        Target(host="name.invalid", private_key=key, label="no such name"),
    ]
    pooled = pool.run_many(targets, WHO)
    fanned = FanOut(targets, WHO).run()
    assert [outcome(item) for item in pooled] == [outcome(item) for item in fanned]
    reasons = [item.error.reason for item in pooled if item.error is not None]
    expected = [FailureReason.REFUSED, FailureReason.AUTH, FailureReason.KEY, FailureReason.DNS]
    assert reasons == expected
    assert pool.size() == 0  # nothing kept for servers that could not be reached


def test_a_failing_command_keeps_the_connection(pool, sshd_server):
    target = target_for(sshd_server)
    [item] = pool.run_many([target], Command.of("sh", "-c", "echo nope >&2; exit 3"))
    assert item.error is None and item.result is not None
    assert item.result.exit_status == 3 and item.result.stderr == "nope"
    who(pool, target)
    assert pool.opened == 1


def test_cancel_stops_the_remote_commands_and_keeps_the_connections(pool, sshd_server):
    marker = f"devflow-pool-cancel-{time.time_ns()}"
    target = target_for(sshd_server)
    before = who(pool, target)
    run = pool.fan_out([target], Command.of("bash", "-c", f"exec -a {marker} sleep 60"))
    results: list[FanOutResult] = []
    thread = threading.Thread(target=lambda: results.extend(run.run()))
    thread.start()

    def remote() -> list[str]:
        found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
        return found.stdout.split()

    wait_for(lambda: bool(remote()), 10, "the command to start")
    run.cancel()
    thread.join(timeout=30)
    assert not thread.is_alive()
    [item] = results
    assert item.result is not None and item.result.cancelled and not item.ok
    wait_for(lambda: not remote(), 15, "the remote command to stop")
    assert who(pool, target) == before  # the connection itself was fine: still kept


def test_a_run_cancelled_before_it_starts_runs_nothing(pool, shared_sshd, tmp_path):
    marker = tmp_path / "ran"
    run = pool.fan_out([target_for(shared_sshd)], Command.of("touch", str(marker)))
    run.cancel()
    [item] = run.run()
    assert item.error is not None and item.error.reason == FailureReason.CANCELLED
    assert not marker.exists()


def test_a_failing_callback_stops_the_run_and_is_raised(pool, sshd_factory):
    servers = [sshd_factory() for _ in range(2)]

    def on_result(item: FanOutResult) -> None:
        raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        pool.run_many([target_for(s) for s in servers], WHO, limit=1, on_result=on_result)
    who(pool, target_for(servers[0]))  # the pool still works


def test_the_shared_pool_is_one_per_process_and_takes_the_idle_limit():
    first = shared(idle_seconds=120)
    assert shared() is first and first.idle_seconds == 120
    shared(idle_seconds=300)
    assert first.idle_seconds == 300
