"""Checking servers for real: first contact, facts, pings, a changed host key, re-trust."""

from __future__ import annotations

import pytest

from devflow.core.jobs import execute_job
from devflow.core.models import ActivityLog, Job, JobStatus
from devflow.servers import services
from devflow.servers.models import PingResult
from devflow.transport.ssh import fingerprint

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_job(team, kind: str, **params) -> Job:  # type: ignore[no-untyped-def]
    job = Job.objects.create(team=team, kind=kind, params=params)
    execute_job(job.pk)
    job.refresh_from_db()
    return job


def log_text(job: Job) -> str:
    return "\n".join(job.log_lines.values_list("text", flat=True))


def test_first_check_pins_the_host_key_and_gathers_facts(acme, shared_sshd, make_server):
    server = make_server(shared_sshd)
    job = run_job(acme, "servers.check", server_id=server.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    server.refresh_from_db()
    assert server.host_key_fingerprint == fingerprint(shared_sshd.host_public_key)
    assert server.host_key_trusted_at is not None
    assert server.status == "up" and server.latency_ms is not None
    assert server.facts["family"] == "debian"
    assert server.facts["cpus"] >= 1 and server.facts["ram_kb"] > 0
    assert "Debian" in server.facts["os"]
    assert f"First contact: pinned host key {server.host_key_fingerprint}" in log_text(job)
    assert ActivityLog.objects.filter(action="server.host_key_pinned").exists()
    assert PingResult.objects.filter(server=server, ok=True).count() == 1


def test_a_changed_host_key_fails_the_check_and_shows_both_fingerprints(
    acme, sshd_factory, make_server, alice
):
    real, other = sshd_factory(), sshd_factory()
    server = make_server(
        real,
        host_key=other.host_public_key,
        host_key_fingerprint=fingerprint(other.host_public_key),
    )
    job = run_job(acme, "servers.check", server_id=server.pk)
    assert job.status == JobStatus.FAILED
    assert "host key" in job.error and "changed" in job.error
    assert fingerprint(real.host_public_key) in job.error
    server.refresh_from_db()
    assert server.status == "down" and server.host_key_changed
    # The user confirms the fingerprint the server presents now: it gets pinned.
    retrust = Job.objects.create(
        team=acme,
        kind="servers.retrust_host_key",
        actor=alice,
        params={"server_id": server.pk, "fingerprint": "SHA256:not-this-one"},
    )
    execute_job(retrust.pk)
    retrust.refresh_from_db()
    assert retrust.status == JobStatus.FAILED and "Nothing was changed" in retrust.error
    server.refresh_from_db()
    assert server.host_key == other.host_public_key
    ok = run_job(
        acme,
        "servers.retrust_host_key",
        server_id=server.pk,
        fingerprint=fingerprint(real.host_public_key),
    )
    assert ok.status == JobStatus.SUCCEEDED, ok.error
    again = run_job(acme, "servers.check", server_id=server.pk)
    assert again.status == JobStatus.SUCCEEDED, again.error


def test_an_unreachable_server_is_marked_down_with_the_reason(acme, make_server, shared_sshd):
    from tests.conftest import free_port

    server = make_server(shared_sshd)
    server.port = free_port()
    server.save()
    job = run_job(acme, "servers.check", server_id=server.pk)
    assert job.status == JobStatus.FAILED
    assert "refused the connection" in job.error
    server.refresh_from_db()
    assert server.status == "down" and server.failure_reason == "refused"
    assert "refused the connection" in server.status_message


def test_a_ping_job_checks_many_servers_at_once(acme, sshd_factory, make_server):
    servers = []
    for number in range(3):
        sshd = sshd_factory()
        server = make_server(sshd, name=f"node-{number}")
        services.pin_host_key(server, sshd.host_public_key)
        servers.append(server)
    down = make_server(sshd_factory(), name="gone")
    services.pin_host_key(
        down, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEv2sqN7s6V0L0Vj4RqPzQbmAqnQp8T3wz7lH0W2gpcS"
    )
    job = Job.objects.create(
        kind="servers.ping", params={"server_ids": [s.pk for s in [*servers, down]]}
    )
    execute_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result == {"checked": 4, "up": 3}
    down.refresh_from_db()
    assert down.status == "down" and down.failure_reason == "host_key_changed"


def test_the_scheduler_claims_due_servers_once(acme, make_server, shared_sshd, monkeypatch):
    from django.utils import timezone

    from devflow.servers.pinging import enqueue_due_pings

    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)
    server = make_server(shared_sshd)
    now = timezone.now()
    assert enqueue_due_pings(now) == [server.pk]
    assert enqueue_due_pings(now) == []
    job = Job.objects.get(kind="servers.ping")
    assert job.params == {"server_ids": [server.pk]}
    server.refresh_from_db()
    assert server.next_ping_at > now
