"""Shared fixtures: personas, and real services (Redis, sshd, Celery workers) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

import tests.jobkinds  # noqa: F401  (registers the test job kinds in this process)
from devflow.accounts import services
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def require_binary(path: str) -> str:
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if not found:
        pytest.fail(f"{path} is not installed; run the README's test command, which installs it.")
    return found


# Personas ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _secret_keys(settings, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Every test encrypts with a known key file in a temporary directory."""
    from devflow.core import crypto

    key_file = tmp_path_factory.getbasetemp() / "secret.keys"
    if not key_file.exists():
        crypto.create_key_file(key_file)
    settings.DEVFLOW_SECRET_KEYS = ""
    settings.DEVFLOW_SECRET_KEY_FILE = key_file
    crypto.fernet.cache_clear()


@pytest.fixture(autouse=True)
def _webhook_threads_closed() -> Iterator[None]:
    """The webhook endpoint keeps connections on its own threads; a test's database must not
    outlive it there (PostgreSQL refuses to drop a database someone is connected to)."""
    yield
    from devflow.webhooks.endpoint import close_connections

    close_connections()


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    """PBKDF2's deliberate slowness buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db) -> User:  # type: ignore[no-untyped-def]
    """Owner of the team Acme."""
    user = services.create_user(username="alice", email="alice@example.com", password=PASSWORD)
    team = Team.objects.create(name="Acme")
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    user.last_team = team
    user.save()
    return user


@pytest.fixture
def acme(alice) -> Team:  # type: ignore[no-untyped-def]
    return Team.objects.get(name="Acme")


@pytest.fixture
def bob(acme) -> User:  # type: ignore[no-untyped-def]
    """Deployer in Acme."""
    user = services.create_user(username="bob", email="bob@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.DEPLOYER)
    user.last_team = acme
    user.save()
    return user


@pytest.fixture
def charlie(db) -> User:  # type: ignore[no-untyped-def]
    """Owner of another team, Globex."""
    user = services.create_user(username="charlie", email="charlie@example.com", password=PASSWORD)
    team = Team.objects.create(name="Globex")
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    user.last_team = team
    user.save()
    return user


@pytest.fixture
def globex(charlie) -> Team:  # type: ignore[no-untyped-def]
    return Team.objects.get(name="Globex")


@pytest.fixture
def alice_client(client, alice):  # type: ignore[no-untyped-def]
    client.force_login(alice)
    return client


# Real services ----------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A redis-server on 127.0.0.1: CI's (DEVFLOW_TEST_REDIS_URL) or a private one."""
    if os.environ.get("DEVFLOW_TEST_REDIS_URL"):
        yield os.environ["DEVFLOW_TEST_REDIS_URL"]
        return
    binary = require_binary("redis-server")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
            "--dir",
            str(folder),
        ],
        check=True,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(answers, 10, "redis")
    yield f"redis://127.0.0.1:{port}/0"
    pid = int((folder / "redis.pid").read_text())
    os.kill(pid, signal.SIGTERM)


def database_url_for_subprocess() -> str:
    """The URL of the database this test uses, for a worker in another process."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict["USER"]
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    return (
        f"postgres://{auth}{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


@pytest.fixture
def start_worker(tmp_path, settings) -> Iterator[Callable[..., WorkerProcess]]:  # type: ignore[no-untyped-def]
    """Start real `devflow worker` processes against this test's database."""
    started: list[WorkerProcess] = []

    def start(redis: str | None = None, name: str = "") -> WorkerProcess:
        data_dir = tmp_path / "worker-data"
        data_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DEVFLOW_DATA_DIR": str(settings.DATA_DIR),
            "DATABASE_URL": database_url_for_subprocess(),
            "DEVFLOW_SECRET_KEY_FILE": str(settings.DEVFLOW_SECRET_KEY_FILE),
            "DEVFLOW_JOB_MODULES": "tests.jobkinds",
            "DEVFLOW_JOB_HEARTBEAT_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("REDIS_URL", None)
        if redis:
            env["REDIS_URL"] = redis
        log_path = tmp_path / f"worker-{len(started)}.log"
        argv = [sys.executable, "-m", "devflow", "worker", "--concurrency", "2"]
        if name:
            argv += ["--name", name]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(process, log_path, env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.terminate()
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()


@dataclass
class SshServer:
    """A real sshd on 127.0.0.1 that accepts only the client key."""

    host: str
    port: int
    username: str
    client_key: Path
    host_public_key: str
    folder: Path

    def kill_all(self) -> None:
        """Kill this sshd and every session it serves, as a power cut would."""
        import psutil

        listener = psutil.Process(int((self.folder / "sshd.pid").read_text()))
        for process in [*listener.children(recursive=True), listener]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    def ssh_argv(self, *remote: str) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.client_key),
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            f"UserKnownHostsFile={self.folder / 'known_hosts'}",
            f"{self.username}@{self.host}",
            *remote,
        ]


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory) -> Iterator[Callable[[], SshServer]]:  # type: ignore[no-untyped-def]
    """Start throw-away sshd servers (random port, fresh host key, key-only login)."""
    sshd = require_binary("/usr/sbin/sshd")
    keygen = require_binary("ssh-keygen")
    pids: list[Path] = []
    folders: list[Path] = []
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    client_keys = Path(tempfile.mkdtemp(prefix="devflow-client-"))
    folders.append(client_keys)
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(client_keys / "client_key")],
        check=True,
    )

    def start(
        authorized_keys_file: str = "",
        username: str = "",
        bind_mounts: dict[str, str] | None = None,
    ) -> SshServer:
        # Outside pytest's 0700 temp tree: sshd reads authorized_keys as the user logging in.
        folder = Path(tempfile.mkdtemp(prefix="devflow-sshd-"))
        folder.chmod(0o755)
        folders.append(folder)
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True
        )
        # One client key for every test server, as one deploy key serves many machines.
        for name in ("client_key", "client_key.pub"):
            shutil.copy(client_keys / name, folder / name)
        authorized = folder / "authorized_keys"
        shutil.copy(folder / "client_key.pub", authorized)
        authorized.chmod(0o644)  # sshd reads it as the logging-in user (non-root tests too)
        port = free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1:{port}\n"
            f"HostKey {folder / 'host_key'}\n"
            f"PidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {authorized_keys_file or authorized}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
            "Subsystem sftp internal-sftp\nMaxStartups 200:30:300\nMaxSessions 200\n"
            "SetEnv SHLVL=1\n"
        )
        subprocess.run([sshd, "-t", "-f", str(config)], check=True)
        daemon = [sshd, "-f", str(config), "-E", str(folder / "sshd.log")]
        if bind_mounts:
            # Its own mount namespace: this "server" sees its own disk at the same paths.
            mounts = [
                f"mkdir -p {shlex.quote(target)} && mount --bind {shlex.quote(source)} "
                f"{shlex.quote(target)}"
                for target, source in bind_mounts.items()
            ]
            script = " && ".join([*mounts, "exec " + shlex.join(daemon)])
            daemon = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        subprocess.run(daemon, check=True)
        pids.append(folder / "sshd.pid")

        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_for(listening, 10, "sshd")
        return SshServer(
            host="127.0.0.1",
            port=port,
            username=username or pwd.getpwuid(os.getuid()).pw_name,
            client_key=folder / "client_key",
            host_public_key=(folder / "host_key.pub").read_text().strip(),
            folder=folder,
        )

    yield start
    for pid_file in pids:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sshd_server(sshd_factory) -> SshServer:  # type: ignore[no-untyped-def]
    return sshd_factory()


@pytest.fixture(scope="session")
def shared_sshd(sshd_factory) -> SshServer:  # type: ignore[no-untyped-def]
    """One sshd for tests that only read from it."""
    return sshd_factory()


def target_for(server: SshServer, **overrides: object):  # type: ignore[no-untyped-def]
    """A transport Target for a test sshd, logging in with the client key."""
    from devflow.transport.ssh import Target

    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "private_key": server.client_key.read_text(),
        "connect_timeout": 10.0,
    }
    values.update(overrides)
    return Target(**values)  # type: ignore[arg-type]


@dataclass
class SudoUsers:
    nopasswd: str
    with_password: str
    password: str


@pytest.fixture(scope="session")
def sudo_users() -> Iterator[SudoUsers]:
    """Two non-root users on this machine: one with NOPASSWD sudo, one that needs a password."""
    require_binary("sudo")
    users = SudoUsers("devflow-nopw", "devflow-pw", "sudo-pass-" + os.urandom(6).hex())
    for name in (users.nopasswd, users.with_password):
        subprocess.run(["userdel", "-r", name], capture_output=True)
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
        # No usable password, but not locked ("!"): sshd refuses locked accounts.
        subprocess.run(["usermod", "-p", "*", name], check=True)
    subprocess.run(
        ["chpasswd"], input=f"{users.with_password}:{users.password}\n".encode(), check=True
    )
    sudoers = Path("/etc/sudoers.d/devflow-tests")
    sudoers.write_text(
        f"{users.nopasswd} ALL=(ALL) NOPASSWD: ALL\n{users.with_password} ALL=(ALL) ALL\n"
    )
    sudoers.chmod(0o440)
    yield users
    sudoers.unlink(missing_ok=True)
    for name in (users.nopasswd, users.with_password):
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture
def home_keys_server(sshd_factory) -> Iterator[SshServer]:  # type: ignore[no-untyped-def]
    """An sshd that reads only ~/.ssh/authorized_keys, and a user whose file holds our key."""
    name = "devflow-keys"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    subprocess.run(["usermod", "-p", "*", name], check=True)
    server = sshd_factory(authorized_keys_file=".ssh/authorized_keys", username=name)
    home = Path(pwd.getpwnam(name).pw_dir)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text((server.folder / "client_key.pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    subprocess.run(["chown", "-R", f"{name}:{name}", str(ssh_dir)], check=True)
    yield server
    subprocess.run(["userdel", "-r", name], capture_output=True)


def run_async(scenario: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run an async test scenario to its end."""
    # A thread of its own: after the browser tests, Playwright's loop runs in this one.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def in_thread() -> None:
        try:
            async_to_sync(scenario)(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(in_thread).result()
