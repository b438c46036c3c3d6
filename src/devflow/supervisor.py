"""`devflow up`: web and worker (with the scheduler's thread) in one process group, each
restarted if it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    history: list[int] = field(default_factory=list)


class Supervisor:
    """Start the children, forward Ctrl-C / SIGTERM, restart a child that dies."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.stopping = False
        base = [sys.executable, "-m", "devflow"]
        self.children = [
            Child("web", [*base, "web", "--host", host, "--port", str(port)]),
            # One machine: the scheduler ticks on a thread of the worker (saves a process).
            Child("worker", [*base, "worker", "--with-scheduler"]),
        ]

    def _say(self, message: str) -> None:
        print(f"[devflow] {message}", flush=True)

    def run(self) -> int:
        shown = "localhost" if self.host in ("127.0.0.1", "::1") else self.host
        url = f"http://{shown}:{self.port}"
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        prepare = subprocess.run(
            [sys.executable, "-m", "devflow", "prepare", "--url", url], check=False
        )
        if prepare.returncode != 0:
            self._say("could not prepare the database; see the message above.")
            return prepare.returncode
        if self.stopping:
            return 0
        for child in self.children:
            self._start(child)
        self._say(f"DevFlow Pro is running at {url}/  (Ctrl-C stops it)")
        while not self.stopping:
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    self._restart(child)
            time.sleep(0.5)
        return self._stop_all()

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.args)
        child.started_at = time.monotonic()

    def _restart(self, child: Child) -> None:
        assert child.process is not None
        code = child.process.returncode
        if time.monotonic() - child.started_at > 60:
            child.restarts = 0
        delay = RESTART_BACKOFF_SECONDS[min(child.restarts, len(RESTART_BACKOFF_SECONDS) - 1)]
        self._say(f"{child.name} exited with status {code}; restarting in {delay} s.")
        child.restarts += 1
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(0.1)
        if not self.stopping:
            self._start(child)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _stop_all(self) -> int:
        self._say("stopping...")
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{child.name} did not stop in time; killing it.")
                os.kill(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self._say("stopped.")
        return 0
