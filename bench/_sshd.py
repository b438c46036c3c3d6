"""Throw-away sshd servers on loopback addresses, shared by the benchmarks that need many.

Each sshd process listens on PER_SSHD addresses (127.0.0.2, .3, ...) with its own port and
host key; every one accepts the same client key. Benchmarks import this module by name
(`python bench/NAME.py` puts bench/ first on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SSHD = "/usr/sbin/sshd"
PER_SSHD = 16


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Host:
    address: str
    port: int
    host_public_key: str


@dataclass
class Inventory:
    folder: Path
    client_key: Path
    hosts: list[Host]
    pid_files: list[Path]


def start_sshds(folder: Path, count: int) -> Inventory:
    """sshd processes serving 127.0.0.2.., PER_SSHD addresses each, one port and host key each."""
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    client_key = folder / "client_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(client_key)], check=True
    )
    authorized = folder / "authorized_keys"
    shutil.copy(folder / "client_key.pub", authorized)
    authorized.chmod(0o644)
    inventory = Inventory(folder, client_key, [], [])
    addresses = [f"127.0.0.{n}" for n in range(2, 2 + count)]
    for index in range(0, count, PER_SSHD):
        chunk = addresses[index : index + PER_SSHD]
        sub = folder / f"sshd{index // PER_SSHD}"
        sub.mkdir()
        sub.chmod(0o755)
        host_key = sub / "host_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
        port = free_port()
        listen = "".join(f"ListenAddress {address}:{port}\n" for address in chunk)
        config = sub / "sshd_config"
        config.write_text(
            listen + f"HostKey {host_key}\n"
            f"PidFile {sub / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
            "MaxStartups 200:30:300\nMaxSessions 200\nSetEnv SHLVL=1\n"
        )
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        subprocess.run([SSHD, "-f", str(config), "-E", str(sub / "sshd.log")], check=True)
        inventory.pid_files.append(sub / "sshd.pid")
        public = (sub / "host_key.pub").read_text().strip()
        inventory.hosts.extend(Host(address, port, public) for address in chunk)
    deadline = time.monotonic() + 20
    pending = list(inventory.hosts)
    while pending and time.monotonic() < deadline:
        still = []
        for host in pending:
            try:
                with socket.create_connection((host.address, host.port), timeout=0.5):
                    pass
            except OSError:
                still.append(host)
        pending = still
        if pending:
            time.sleep(0.05)
    if pending:
        raise RuntimeError(f"{len(pending)} sshd listeners did not come up, e.g. {pending[0]}")
    return inventory


def sshd_pids(inventory: Inventory) -> list[int]:
    pids = []
    for pid_file in inventory.pid_files:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pid_file.read_text()))
    return pids


def stop_sshds(inventory: Inventory | None) -> None:
    if inventory is None:
        return
    for pid in sshd_pids(inventory):
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):  # sessions still open
                with contextlib.suppress(psutil.Error):
                    child.kill()
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
