"""The SSH transport against real sshd processes on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devflow.transport.commands import Command, CommandError
from devflow.transport.errors import FailureReason, TransportError
from devflow.transport.ssh import FanOut, SshSession, Target, fingerprint
from tests.conftest import free_port, target_for

pytestmark = pytest.mark.services

ARGV_JSON = "import json, sys; print(json.dumps(sys.argv[1:]))"


def remote_processes(session: SshSession, marker: str) -> list[str]:
    result = session.run(Command.of("pgrep", "-f", "-a", marker))
    return [line for line in result.stdout.splitlines() if "pgrep" not in line]


def test_run_returns_output_and_exit_status(shared_sshd):
    with SshSession(target_for(shared_sshd)) as session:
        result = session.run(Command.of("sh", "-c", "echo out; echo err >&2; exit 3"))
    assert result.stdout == "out" and result.stderr == "err" and result.exit_status == 3
    assert not result.ok


def test_one_connection_serves_every_command_of_a_session(shared_sshd):
    with SshSession(target_for(shared_sshd)) as session:
        ports = {session.run(Command.of("sh", "-c", "echo $SSH_CLIENT")).stdout for _ in range(5)}
    assert len(ports) == 1  # same client port: the connection was reused


def test_stream_delivers_lines_as_they_come(shared_sshd):
    seen: list[tuple[str, str]] = []
    with SshSession(target_for(shared_sshd)) as session:
        result = session.stream(
            Command.of("sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2"),
            on_line=lambda stream, line: seen.append((stream, line)),
        )
    assert result.ok
    assert ("stdout", "line 1") in seen and ("stdout", "line 3") in seen
    assert ("stderr", "oops") in seen


# Shell syntax and odd characters, mixed with any other text (no NUL: argv cannot hold it).
FUZZ = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "\n",
                "\r",
                ";",
                "&&",
                "|",
                "$(",
                ")",
                "`",
                "'",
                '"',
                "\\",
                "-",
                " ",
                "*",
                "$HOME",
                "~",
                ">",
                "<",
                "#",
                "\t",
                "!",
                "{",
                "}",
                "--help",
            ]
        ),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=20,
).map("".join)


@pytest.fixture(scope="module")
def fuzz_session(shared_sshd):  # type: ignore[no-untyped-def]
    session = SshSession(target_for(shared_sshd)).connect()
    yield session
    session.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(FUZZ, min_size=1, max_size=3))
def test_any_user_text_arrives_as_exactly_one_argument_each(fuzz_session, values):
    result = fuzz_session.run(Command.of("python3", "-c", ARGV_JSON, *values))
    assert result.ok, result.stderr
    assert json.loads(result.stdout) == values


@settings(max_examples=60, deadline=None)
@given(value=FUZZ)
def test_user_text_in_a_script_arrives_as_one_positional_parameter(fuzz_session, value):
    script = 'python3 -c "$1" "$2"'
    result = fuzz_session.run(Command.script(script, ARGV_JSON, value))
    assert json.loads(result.stdout) == [value]


def test_commands_must_be_argument_lists():
    with pytest.raises(CommandError):
        Command(argv="rm -rf /")  # type: ignore[arg-type]
    with pytest.raises(CommandError):
        Command.of("echo", "a\x00b")


def test_first_contact_reports_the_host_key_and_a_pinned_key_connects(shared_sshd):
    with SshSession(target_for(shared_sshd)) as session:
        seen = session.host_key
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(shared_sshd.folder / "host_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert fingerprint(seen) == expected
    with SshSession(target_for(shared_sshd, pinned_host_key=seen)) as session:
        assert session.run(Command.of("true")).ok


def test_a_changed_host_key_fails_loudly_and_runs_nothing(sshd_factory, tmp_path):
    server, impostor = sshd_factory(), sshd_factory()
    pinned = SshSession(target_for(impostor)).connect().host_key  # another server's key
    marker = tmp_path / "ran"
    with pytest.raises(TransportError) as caught:
        SshSession(target_for(server, pinned_host_key=pinned)).run(Command.of("touch", str(marker)))
    error = caught.value
    assert error.reason == FailureReason.HOST_KEY_CHANGED
    assert fingerprint(pinned) in error.message
    assert error.presented_fingerprint == fingerprint(server.host_public_key)
    assert "Nothing was run" in error.message
    assert not marker.exists()


def test_a_wrong_key_is_an_authentication_failure(shared_sshd, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    target = target_for(shared_sshd, private_key=(tmp_path / "k").read_text())
    with pytest.raises(TransportError) as caught:
        SshSession(target).connect()
    assert caught.value.reason == FailureReason.AUTH
    assert "refused the key for user" in caught.value.message


def test_a_closed_port_is_refused():
    target = Target(host="127.0.0.1", port=free_port(), private_key=_any_key())
    with pytest.raises(TransportError) as caught:
        SshSession(target).connect()
    assert caught.value.reason == FailureReason.REFUSED
    assert "is sshd running" in caught.value.message


def test_a_silent_server_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        target = Target(
            host="127.0.0.1",
            port=listener.getsockname()[1],
            private_key=_any_key(),
            connect_timeout=1,
        )
        with pytest.raises(TransportError) as caught:
            SshSession(target).connect()
    finally:
        listener.close()
    assert caught.value.reason == FailureReason.TIMEOUT
    assert "No answer from" in caught.value.message


def test_a_file_that_is_not_a_key_and_a_wrong_passphrase_are_key_errors(tmp_path):
    with pytest.raises(TransportError, match="not a usable private key"):
        SshSession(Target(host="127.0.0.1", private_key="hello")).connect()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "right", "-f", str(tmp_path / "enc")],
        check=True,
    )
    target = Target(
        host="127.0.0.1", private_key=(tmp_path / "enc").read_text(), passphrase="wrong"
    )
    with pytest.raises(TransportError, match="passphrase is wrong or missing") as caught:
        SshSession(target).connect()
    assert caught.value.reason == FailureReason.KEY


def test_a_command_past_its_timeout_is_stopped_on_the_server(shared_sshd):
    marker = f"devflow-timeout-{time.time_ns()}"
    with SshSession(target_for(shared_sshd)) as session:
        result = session.run(Command.of("bash", "-c", f"exec -a {marker} sleep 60"), timeout=1)
        assert result.timed_out and not result.ok
        deadline = time.monotonic() + 10
        while remote_processes(session, marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert remote_processes(session, marker) == []


def test_cancel_from_another_thread_stops_the_remote_command(shared_sshd):
    marker = f"devflow-cancel-{time.time_ns()}"
    session = SshSession(target_for(shared_sshd)).connect()
    watcher = SshSession(target_for(shared_sshd)).connect()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = session.run(Command.of("bash", "-c", f"exec -a {marker} sleep 60"))
        except TransportError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not remote_processes(watcher, marker):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    session.cancel()
    thread.join(timeout=20)
    assert not thread.is_alive()
    result = outcome.get("result")
    assert result is not None and result.cancelled and not result.ok  # type: ignore[attr-defined]
    assert session.run(Command.of("true")).cancelled  # later commands fail fast
    deadline = time.monotonic() + 10
    while remote_processes(watcher, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert remote_processes(watcher, marker) == []
    watcher.close()
    session.close()


def test_put_and_get_file_round_trip_atomically(shared_sshd, tmp_path):
    path = tmp_path / "deep" / "file.env"
    path.parent.mkdir()
    data = b"KEY=value\nOTHER='quoted; $(not run)'\n"
    with SshSession(target_for(shared_sshd)) as session:
        session.put_file(data, str(path), mode=0o600)
        assert session.get_file(str(path)) == data
    assert path.read_bytes() == data
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["file.env"]


def test_sudo_without_a_password_for_a_nopasswd_user(shared_sshd, sudo_users):
    target = target_for(shared_sshd, username=sudo_users.nopasswd)
    with SshSession(target) as session:
        assert session.run(Command.of("id", "-un")).stdout == sudo_users.nopasswd
        assert session.run(Command.of("id", "-un", sudo=True)).stdout == "root"


def test_sudo_with_a_password(shared_sshd, sudo_users):
    target = target_for(
        shared_sshd, username=sudo_users.with_password, sudo_password=sudo_users.password
    )
    with SshSession(target) as session:
        assert session.run(Command.of("id", "-un", sudo=True)).stdout == "root"
    wrong = target_for(shared_sshd, username=sudo_users.with_password, sudo_password="nope")
    with SshSession(wrong) as session:
        result = session.run(Command.of("id", "-un", sudo=True))
    assert not result.ok and "root" not in result.stdout


def test_sudo_needing_a_password_we_do_not_have_fails_instead_of_hanging(shared_sshd, sudo_users):
    target = target_for(shared_sshd, username=sudo_users.with_password)
    with SshSession(target) as session:
        result = session.run(Command.of("id", "-un", sudo=True), timeout=20)
    assert not result.ok and not result.timed_out
    assert "password is required" in result.stderr


def test_fan_out_runs_on_every_server_and_reports_each(sshd_factory):
    servers = [sshd_factory() for _ in range(3)]
    targets = [target_for(s, label=f"s{i}") for i, s in enumerate(servers)]
    targets.append(Target(host="127.0.0.1", port=free_port(), private_key=_any_key(), label="down"))
    seen: list[str] = []
    results = FanOut(
        targets,
        Command.of("sh", "-c", "echo $SSH_CONNECTION"),
        limit=2,
        on_result=lambda item: seen.append(item.target.label),
    ).run()
    assert sorted(seen) == ["down", "s0", "s1", "s2"]
    for item, server in zip(results[:3], servers, strict=True):
        assert item.ok and item.result is not None
        assert item.result.stdout.split()[-1] == str(server.port)
    assert results[3].error is not None and results[3].error.reason == FailureReason.REFUSED


def test_a_connection_lost_mid_command_is_reported(sshd_server):
    session = SshSession(target_for(sshd_server)).connect()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = session.run(Command.of("sleep", "60"))
        except TransportError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    # The server "reboots": every sshd process of this server dies.
    sshd_server.kill_all()
    thread.join(timeout=30)
    assert not thread.is_alive()
    error, result = outcome.get("error"), outcome.get("result")
    if error is not None:
        assert isinstance(error, TransportError)
        assert error.reason == FailureReason.DISCONNECTED
    else:
        assert result is not None and not result.ok  # type: ignore[attr-defined]
    session.close()


_KEY_CACHE: list[str] = []


def _any_key() -> str:
    if not _KEY_CACHE:
        import asyncssh

        _KEY_CACHE.append(
            asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        )
    return _KEY_CACHE[0]
