"""The sshd fixture later work builds on: real, key-only, several at once."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.services


def test_several_sshd_servers_run_at_once_and_accept_the_client_key(sshd_factory):
    servers = [sshd_factory() for _ in range(3)]
    assert len({server.port for server in servers}) == 3
    for server in servers:
        result = subprocess.run(
            server.ssh_argv("echo", "hello from", str(server.port)),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"hello from {server.port}"


def test_the_test_sshd_refuses_password_login(sshd_server, tmp_path):
    other_key = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    argv = sshd_server.ssh_argv("true")
    argv[argv.index(str(sshd_server.client_key))] = str(other_key)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
