"""Deploying, removing and rotating keys on a real server's ~/.ssh/authorized_keys."""

from __future__ import annotations

import pwd
import subprocess
from pathlib import Path

import pytest

from devflow.core.jobs import execute_job
from devflow.core.models import ActivityLog, Job, JobStatus
from devflow.servers import keys, services
from devflow.servers.bulk import start_bulk_run
from devflow.servers.models import KeyInstallation, Server, SshKey
from devflow.servers.rotation import start_rotation
from devflow.transport.commands import Command
from devflow.transport.errors import FailureReason, TransportError
from devflow.transport.ssh import SshSession

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


@pytest.fixture
def server(acme, alice, home_keys_server) -> Server:  # type: ignore[no-untyped-def]
    key = keys.import_key(alice, acme, "old", home_keys_server.client_key.read_text())
    server = Server.objects.create(
        team=acme,
        name="app",
        host=home_keys_server.host,
        port=home_keys_server.port,
        username=home_keys_server.username,
        ssh_key=key,
    )
    services.pin_host_key(server, home_keys_server.host_public_key)
    return server


def authorized(server: Server) -> str:
    home = Path(pwd.getpwnam(server.username).pw_dir)
    return (home / ".ssh" / "authorized_keys").read_text()


def can_log_in(server: Server, key: SshKey) -> bool:
    probe = Server.objects.get(pk=server.pk)
    probe.ssh_key = key
    try:
        with SshSession(services.target_of(probe)) as session:
            return session.run(Command.of("true")).ok
    except TransportError as error:
        assert error.reason == FailureReason.AUTH
        return False


def test_deploying_a_key_is_idempotent_and_removing_takes_it_out(acme, alice, server):
    extra = keys.generate_key(alice, acme, "ci")
    for _ in range(2):
        run = start_bulk_run(alice, acme, [server], "deploy_key", {"key_id": extra.pk})
        execute_job(run.job_id)
        assert run.results.get().status == "succeeded"
    assert authorized(server).count(extra.public_key.split()[1]) == 1
    assert "already present" in run.results.get().output
    assert KeyInstallation.objects.filter(ssh_key=extra, server=server).exists()
    assert can_log_in(server, extra)

    run = start_bulk_run(alice, acme, [server], "remove_key", {"key_id": extra.pk}, confirmed=True)
    execute_job(run.job_id)
    assert run.results.get().output.strip() == "removed"
    assert extra.public_key.split()[1] not in authorized(server)
    assert not KeyInstallation.objects.filter(ssh_key=extra).exists()
    assert not can_log_in(server, extra)
    server.refresh_from_db()
    assert can_log_in(server, server.ssh_key)  # the login key is untouched


def test_removing_the_key_devflow_logs_in_with_is_refused(acme, alice, server):
    with pytest.raises(services.ServerError, match="would lock DevFlow Pro out"):
        start_bulk_run(
            alice, acme, [server], "remove_key", {"key_id": server.ssh_key_id}, confirmed=True
        )


def test_rotation_moves_the_server_to_a_new_key_and_revokes_the_old(acme, alice, server):
    old = server.ssh_key
    job = start_rotation(alice, old)
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    server.refresh_from_db()
    new = server.ssh_key
    assert new != old and new.name.startswith("old (rotated ")
    assert new.public_key.split()[1] in authorized(server)
    assert old.public_key.split()[1] not in authorized(server)
    assert can_log_in(server, new) and not can_log_in(server, old)
    assert ActivityLog.objects.filter(action="ssh_key.rotated").exists()


def test_a_failed_rotation_leaves_the_old_key_working(acme, alice, server):
    old = server.ssh_key
    file = Path(pwd.getpwnam(server.username).pw_dir) / ".ssh" / "authorized_keys"
    subprocess.run(["chown", "root:root", str(file)], check=True)
    file.chmod(0o644)  # readable by sshd, not writable by the user: adding a key fails
    job = start_rotation(alice, old)
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "app still use old" in job.error
    server.refresh_from_db()
    assert server.ssh_key == old
    assert can_log_in(server, old)
    assert "It keeps the old key." in "\n".join(
        Job.objects.get(pk=job.pk).log_lines.values_list("text", flat=True)
    )
