"""Reboot waits for the server to go away and come back (the sshd restarts, as after a boot)."""

from __future__ import annotations

import pytest

from devflow.core.jobs import JOB_KINDS, execute_job
from devflow.core.models import Job, JobStatus
from devflow.servers import services
from devflow.servers.actions import QuickAction
from devflow.transport.commands import Command

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_reboot_reports_when_the_server_is_back(
    acme, alice, sshd_factory, make_server, monkeypatch
):
    sshd = sshd_factory()
    server = make_server(sshd)
    services.pin_host_key(server, sshd.host_public_key)
    config, pid_file = sshd.folder / "sshd_config", sshd.folder / "sshd.pid"
    # Instead of `reboot` (this is the test machine): stop sshd for 3 s, then start it again.
    fake_reboot = QuickAction(
        "reboot",
        "Reboot",
        lambda family, params: [
            Command.script(
                '(sleep 1; kill "$(cat "$1")"; sleep 3; /usr/sbin/sshd -f "$2") '
                ">/dev/null 2>&1 </dev/null &",
                str(pid_file),
                str(config),
                label="fake reboot",
            )
        ],
        destructive=True,
        timeout_seconds=120,
    )
    monkeypatch.setattr(JOB_KINDS["servers.reboot"], "action", fake_reboot)
    job = Job.objects.create(
        team=acme, kind="servers.reboot", actor=alice, params={"server_id": server.pk}
    )
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    lines = list(job.log_lines.values_list("text", flat=True))
    assert "Waiting for the server to go down and come back…" in lines
    assert any(line.startswith("The server is back (answered in ") for line in lines)
    server.refresh_from_db()
    assert server.status == "up"
