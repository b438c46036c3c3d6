"""Run a command on the machine DevFlow Pro runs on, streaming its output line by line."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from devflow.transport.base import LineCallback, Result
from devflow.transport.commands import Command


class LocalProcess:
    """A running local command in its own process group, so cancel stops its children too."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str] | None = None, stdin: str | None = None
    ) -> None:
        if isinstance(args, str):
            raise TypeError("Commands are argument lists, never shell strings.")
        self.args = list(args)
        self.cancelled = False
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        if stdin and self.process.stdin is not None:
            self.process.stdin.write(stdin.encode())
            self.process.stdin.close()

    def terminate(self) -> None:
        """Stop the command and everything it started (TERM, then KILL after 3 s)."""
        self.cancelled = True
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def communicate(
        self, on_line: LineCallback | None = None, timeout: float | None = None
    ) -> Result:
        """Read both streams until the command ends, calling `on_line(stream, line)`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        out: dict[str, list[str]] = {"stdout": [], "stderr": []}
        assert self.process.stdout is not None and self.process.stderr is not None
        selector.register(self.process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(self.process.stderr, selectors.EVENT_READ, "stderr")
        timed_out = False
        while selector.get_map():
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and wait == 0.0:
                timed_out = True
                self.terminate()
                self.cancelled = False
                break
            for key, _ in selector.select(timeout=wait if wait is not None else 1.0):
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if not line:
                    selector.unregister(key.fileobj)
                    continue
                text = line.decode(errors="replace").rstrip("\n")
                out[key.data].append(text)
                if on_line is not None:
                    on_line(key.data, text)
        selector.close()
        exit_status = self.process.wait()
        return Result(
            exit_status=exit_status,
            stdout="\n".join(out["stdout"]),
            stderr="\n".join(out["stderr"]),
            timed_out=timed_out,
            cancelled=self.cancelled,
        )


def run(
    args: Sequence[str],
    *,
    on_line: LineCallback | None = None,
    timeout: float | None = None,
    on_start: Callable[[LocalProcess], None] | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Run `args` locally; `on_start` receives the process (to register cancellation)."""
    process = LocalProcess(args, env=env)
    if on_start is not None:
        on_start(process)
    return process.communicate(on_line=on_line, timeout=timeout)


class LocalSession:
    """The machine DevFlow Pro runs on, with the same interface as `SshSession`."""

    host_key = ""
    host_key_fingerprint = ""

    def __init__(self, sudo_password: str = "") -> None:
        self.sudo_password = sudo_password
        self._running: set[LocalProcess] = set()
        self._cancelled = False

    def connect(self) -> LocalSession:
        return self

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        self._cancelled = True
        for process in list(self._running):
            process.terminate()

    def run(self, command: Command, timeout: float | None = None) -> Result:
        return self.stream(command, on_line=None, timeout=timeout)

    def stream(
        self, command: Command, on_line: LineCallback | None, timeout: float | None = None
    ) -> Result:
        if self._cancelled:
            return Result(-1, "", "", cancelled=True)
        if command.sudo and os.geteuid() != 0:
            command = command.with_sudo(self.sudo_password or None)
        process = LocalProcess(command.argv, stdin=command.stdin)
        self._running.add(process)
        try:
            return process.communicate(on_line=on_line, timeout=timeout)
        finally:
            self._running.discard(process)

    def put_file(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        path = Path(remote_path)
        temporary = path.with_name(f".{path.name}.devflow-tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        temporary.replace(path)

    def get_file(self, remote_path: str) -> bytes:
        return Path(remote_path).read_bytes()
