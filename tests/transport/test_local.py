"""The local transport offers the same interface as SSH, for the machine DevFlow runs on."""

from __future__ import annotations

import json
import threading
import time

import psutil

from devflow.transport.commands import Command
from devflow.transport.local import LocalSession

ARGV_JSON = "import json, sys; print(json.dumps(sys.argv[1:]))"


def test_run_stream_and_exit_status():
    seen: list[tuple[str, str]] = []
    with LocalSession() as session:
        result = session.stream(
            Command.of("sh", "-c", "echo a; echo b >&2; exit 4"),
            on_line=lambda stream, line: seen.append((stream, line)),
        )
    assert (result.exit_status, result.stdout, result.stderr) == (4, "a", "b")
    assert seen == [("stdout", "a"), ("stderr", "b")] or sorted(seen) == [
        ("stderr", "b"),
        ("stdout", "a"),
    ]


def test_arguments_are_never_interpreted_by_a_shell():
    value = "x; touch /tmp/pwned $(id) `id` && echo\nnewline"
    result = LocalSession().run(Command.of("python3", "-c", ARGV_JSON, value))
    assert json.loads(result.stdout) == [value]


def test_stdin_reaches_the_command():
    result = LocalSession().run(Command(argv=("cat",), stdin="secret input\n"))
    assert result.stdout == "secret input"


def test_cancel_terminates_the_command():
    marker = f"devflow-local-{time.time_ns()}"
    session = LocalSession()
    holder: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: holder.setdefault(
            "result", session.run(Command.of("bash", "-c", f"exec -a {marker} sleep 60"))
        )
    )
    thread.start()

    def running() -> bool:
        return any(
            p.info["cmdline"] and p.info["cmdline"][0] == marker
            for p in psutil.process_iter(["cmdline"])
        )

    deadline = time.monotonic() + 10
    while not running():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    session.cancel()
    thread.join(timeout=20)
    assert holder["result"].cancelled  # type: ignore[attr-defined]
    assert not running()


def test_put_file_writes_atomically_with_the_mode(tmp_path):
    target = tmp_path / "app.env"
    LocalSession().put_file(b"A=1\n", str(target), mode=0o600)
    assert target.read_bytes() == b"A=1\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert LocalSession().get_file(str(target)) == b"A=1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["app.env"]
