"""Bulk actions over several real sshd servers."""

from __future__ import annotations

import pytest

from devflow.accounts.models import Membership
from devflow.core.jobs import execute_job
from devflow.core.models import ActivityLog, JobStatus
from devflow.servers import services
from devflow.servers.bulk import start_bulk_run
from devflow.servers.models import BulkResult
from tests.conftest import free_port

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


@pytest.fixture
def three_servers(sshd_factory, make_server):  # type: ignore[no-untyped-def]
    servers = []
    for number in range(3):
        sshd = sshd_factory()
        server = make_server(sshd, name=f"node-{number}")
        services.pin_host_key(server, sshd.host_public_key)
        servers.append(server)
    return servers


def results(run) -> dict[str, BulkResult]:  # type: ignore[no-untyped-def]
    return {row.server_name: row for row in BulkResult.objects.filter(run=run)}


def test_run_a_command_on_three_servers_with_output_per_server(acme, alice, three_servers):
    run = start_bulk_run(
        alice,
        acme,
        three_servers,
        "run_command",
        {"command": "echo hello from $(hostname) on port ${SSH_CONNECTION##* }"},
    )
    assert {row.status for row in results(run).values()} == {"pending"}
    execute_job(run.job_id)
    run.job.refresh_from_db()
    assert run.job.status == JobStatus.SUCCEEDED, run.job.error
    rows = results(run)
    for server in three_servers:
        row = rows[server.name]
        assert row.status == "succeeded" and row.exit_status == 0
        assert row.output.endswith(f"on port {server.port}")
        assert row.started_at and row.finished_at
    assert ActivityLog.objects.filter(action="bulk.run_command", actor=alice).exists()


def test_one_bad_server_fails_alone_and_the_summary_says_so(acme, alice, three_servers):
    broken = three_servers[1]
    broken.port = free_port()
    broken.save()
    run = start_bulk_run(alice, acme, three_servers, "ping", {})
    execute_job(run.job_id)
    run.job.refresh_from_db()
    assert run.job.status == JobStatus.FAILED
    assert run.job.error == "1 of 3 server(s) did not succeed; see the results per server."
    rows = results(run)
    assert rows["node-1"].status == "failed" and "refused the connection" in rows["node-1"].error
    assert rows["node-0"].status == rows["node-2"].status == "succeeded"


def test_a_command_past_the_timeout_is_reported_as_timed_out(
    acme, alice, three_servers, monkeypatch
):
    from devflow.servers import bulk

    action = bulk.BULK_ACTIONS["run_command"]
    monkeypatch.setitem(
        bulk.BULK_ACTIONS,
        "run_command",
        bulk.BulkAction(
            action.name, action.label, action.needs_role, action.steps, timeout_seconds=1
        ),
    )
    run = start_bulk_run(alice, acme, three_servers[:1], "run_command", {"command": "sleep 30"})
    execute_job(run.job_id)
    assert results(run)["node-0"].status == "timed_out"


def test_arbitrary_commands_need_a_maintainer(acme, bob, three_servers):
    with pytest.raises(services.ServerError, match="may not run a command"):
        start_bulk_run(bob, acme, three_servers, "run_command", {"command": "id"})
    Membership.objects.filter(user=bob).update(role="maintainer")
    start_bulk_run(bob, acme, three_servers, "run_command", {"command": "id"})


def test_destructive_actions_need_confirmation(acme, alice, three_servers):
    with pytest.raises(services.ServerError, match="Reboot needs confirmation"):
        start_bulk_run(alice, acme, three_servers, "reboot", {})


def test_bad_input_is_refused_before_anything_runs(acme, alice, three_servers, globex):
    with pytest.raises(services.ServerError, match="not a systemd unit name"):
        start_bulk_run(
            alice, acme, three_servers, "restart_service", {"service": "nginx; rm -rf /"}
        )
    with pytest.raises(services.ServerError, match="Select at least one server"):
        start_bulk_run(alice, acme, [], "ping", {})
    with pytest.raises(services.ServerError, match="Type the command"):
        start_bulk_run(alice, acme, three_servers, "run_command", {"command": "  "})
    with pytest.raises(services.ServerError, match="belongs to another team"):
        start_bulk_run(alice, globex, three_servers, "ping", {})
