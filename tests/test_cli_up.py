"""The `devflow` command as an operator runs it: `up` starts everything and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, free_port, wait_for

pytestmark = pytest.mark.services


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh install: only a data directory, no DATABASE_URL/REDIS_URL."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DEVFLOW_")
        and key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["DEVFLOW_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# The test job kinds, loaded by the worker that `devflow up` starts.
JOB_PLUGINS = {"DEVFLOW_JOB_MODULES": "tests.jobkinds", "PYTHONPATH": str(REPO)}


def get(url: str, timeout: float = 3) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    console: Path

    def output(self) -> str:
        return self.console.read_text(errors="replace")


@pytest.fixture
def devflow_up(tmp_path: Path) -> Iterator[Up]:
    """`devflow up --port P` in its own process group, on a fresh data directory."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    console = tmp_path / "console.log"
    with open(console, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devflow", "up", "--port", str(port)],
            env=clean_env(data_dir, **JOB_PLUGINS),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    up = Up(process, port, data_dir, console)
    yield up
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until_ready(up: Up, timeout: float = 60) -> dict[str, object]:
    found: dict[str, object] = {}

    def ready() -> bool:
        if up.process.poll() is not None:
            raise AssertionError(f"devflow up exited with {up.process.returncode}:\n{up.output()}")
        try:
            status, body = get(f"http://127.0.0.1:{up.port}/readyz")
        except OSError:
            return False
        if status != 200:
            return False
        found.update(json.loads(body))
        return True

    try:
        wait_for(ready, timeout, "/readyz to answer 200")
    except AssertionError:
        raise AssertionError(f"not ready in {timeout} s; console:\n{up.output()}") from None
    return found


def test_up_serves_prints_the_setup_token_and_stops_everything_on_ctrl_c(devflow_up: Up) -> None:
    up = devflow_up
    health = wait_until_ready(up)
    assert health["database"]["ok"] is True, health  # type: ignore[index]
    assert health["broker"]["ok"] is True, health  # type: ignore[index]

    token = (up.data_dir / "setup-token").read_text().strip()
    wait_for(lambda: "(Ctrl-C stops it)" in up.output(), 10, "the ready line")
    console = up.output()
    assert f"with the one-time setup token:  {token}" in console, console
    assert f"http://localhost:{up.port}/setup/" in console, console
    assert f"DevFlow Pro is running at http://localhost:{up.port}/" in console, console

    status, body = get(f"http://127.0.0.1:{up.port}/setup/")
    assert status == 200
    assert b"Create the first admin" in body

    keys = up.data_dir / "secret.keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600

    supervisor = psutil.Process(up.process.pid)
    children = supervisor.children(recursive=True)
    commands = sorted(" ".join(child.cmdline()[3:4]) for child in children)
    assert commands == ["web", "worker"], [c.cmdline() for c in children]
    worker = next(c for c in children if c.cmdline()[3:4] == ["worker"])
    assert "--with-scheduler" in worker.cmdline()
    pids = [child.pid for child in children]

    up.process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the supervisor
    assert up.process.wait(timeout=30) == 0, up.output()
    wait_for(lambda: not any(alive(pid) for pid in pids), 5, "the children to be gone")
    in_group = [
        p.pid for p in psutil.process_iter() if _pgid(p.pid) == up.process.pid and alive(p.pid)
    ]
    assert in_group == [], in_group
    assert "[devflow] stopped." in up.output()


def test_ctrl_c_in_a_terminal_stops_everything(devflow_up: Up) -> None:
    """A terminal sends SIGINT to the whole foreground process group, children included."""
    up = devflow_up
    wait_until_ready(up)
    pids = [child.pid for child in psutil.Process(up.process.pid).children(recursive=True)]
    assert len(pids) == 2  # web, and the worker with the scheduler thread

    os.killpg(up.process.pid, signal.SIGINT)
    assert up.process.wait(timeout=30) == 0, up.output()
    wait_for(lambda: not any(alive(pid) for pid in pids), 5, "the children to be gone")
    assert "restarting" not in up.output(), up.output()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_a_worker_on_a_new_machine_asks_for_the_shared_key_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devflow", "worker"],
        env=clean_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "copy it from the first one" in result.stderr, result.stderr
    assert not (tmp_path / "secret.keys").exists()


def test_worker_names_an_unreachable_broker(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    prepared = subprocess.run(
        [sys.executable, "-m", "devflow", "prepare"],
        env=clean_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert prepared.returncode == 0, prepared.stderr
    result = subprocess.run(
        [sys.executable, "-m", "devflow", "worker"],
        env=clean_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed}/0"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Cannot reach the job broker" in output, output
    assert f"127.0.0.1:{closed}" in output, output


def test_prepare_refuses_a_corrupt_key_file_and_writes_nothing(tmp_path: Path) -> None:
    keys = tmp_path / "secret.keys"
    keys.write_text("not-a-key\n")
    result = subprocess.run(
        [sys.executable, "-m", "devflow", "prepare"],
        env=clean_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(keys) in output, output
    assert re.search(r"not a valid Fernet key", output), output
    assert keys.read_text() == "not-a-key\n"
    assert not (tmp_path / "devflow.sqlite3").exists(), "migrated a database with unusable keys"
    # Only Django's own signing secret, which any start needs, may appear beside the key file.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["django-secret", "secret.keys"]


ENQUEUE = """
import json, os, sys, django
os.environ["DJANGO_SETTINGS_MODULE"] = "devflow.settings"
django.setup()
from django.db import transaction
from devflow.core.jobs import enqueue
with transaction.atomic():
    job = enqueue("tests.steps", params=json.loads(sys.argv[1]))
print(job.pk)
"""


def enqueue_in(up: Up, **params: object) -> int:
    """Queue a job the way the web process does, from another process."""
    result = subprocess.run(
        [sys.executable, "-c", ENQUEUE, json.dumps(params)],
        env=clean_env(up.data_dir, **JOB_PLUGINS),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def job_row(up: Up, job_id: int) -> tuple[str, str]:
    import sqlite3

    with sqlite3.connect(up.data_dir / "devflow.sqlite3", timeout=10) as db:
        return db.execute("SELECT status, error FROM core_job WHERE id = ?", [job_id]).fetchone()


def locks(up: Up) -> list[str]:
    """Locks held by jobs (the scheduler's own once-a-minute claims are leases, not jobs')."""
    import sqlite3

    with sqlite3.connect(up.data_dir / "devflow.sqlite3", timeout=10) as db:
        query = "SELECT key FROM core_lock WHERE holder_job_id IS NOT NULL"
        return [row[0] for row in db.execute(query)]


def test_a_killed_worker_is_restarted_and_its_job_failed_with_the_lock_released(
    devflow_up: Up,
) -> None:
    up = devflow_up
    wait_until_ready(up)
    job_id = enqueue_in(up, steps=600, pause=0.1, lock="project:1")
    wait_for(lambda: job_row(up, job_id)[0] == "running", 30, "the job to start")
    wait_for(lambda: locks(up) == ["project:1"], 10, "the lock to be taken")

    worker = next(
        child
        for child in psutil.Process(up.process.pid).children()
        if child.cmdline()[3:4] == ["worker"]
    )
    worker.send_signal(signal.SIGKILL)

    try:
        wait_for(lambda: job_row(up, job_id)[0] == "failed", 60, "the job to be failed")
    except AssertionError:
        raise AssertionError(f"job {job_row(up, job_id)}; console:\n{up.output()}") from None
    _status, error = job_row(up, job_id)
    assert f":{worker.pid}" in error and ("is gone" in error or "heartbeats" in error), error
    assert locks(up) == []
    assert "worker exited with status -9; restarting" in up.output()

    # The restarted worker takes new work.
    second = enqueue_in(up, steps=1)
    wait_for(lambda: job_row(up, second)[0] == "succeeded", 60, "the next job to succeed")


def test_createadmin_prints_the_token_then_creates_the_admin_and_closes_setup(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path)
    shown = subprocess.run(
        [sys.executable, "-m", "devflow", "createadmin"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    token = (tmp_path / "setup-token").read_text().strip()
    assert f"with the one-time setup token:  {token}" in shown.stdout

    weak = subprocess.run(
        [
            sys.executable,
            "-m",
            "devflow",
            "createadmin",
            "--username",
            "root-admin",
            "--email",
            "ops@example.com",
        ],
        env=env,
        cwd=REPO,
        input="short\nshort\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode != 0
    assert "This password is too short" in weak.stderr

    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "devflow",
            "createadmin",
            "--username",
            "root-admin",
            "--email",
            "ops@example.com",
        ],
        env=env,
        cwd=REPO,
        input="a long unusual passphrase\na long unusual passphrase\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert "Admin root-admin created." in created.stdout
    assert not (tmp_path / "setup-token").exists()

    again = subprocess.run(
        [sys.executable, "-m", "devflow", "createadmin"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode != 0
    assert "An admin exists already" in again.stderr
