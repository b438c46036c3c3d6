"""Metrics from a real sshd server, compared with psutil's readings of the same machine."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from devflow.core.jobs import enqueue, execute_job
from devflow.core.models import Job, JobStatus, Lock
from devflow.monitoring import collector, services, ticks
from devflow.monitoring.models import ServerRollup, ServerSample
from devflow.servers import services as server_services
from devflow.transport.ssh import SshSession
from tests.conftest import target_for

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024


def read_over_ssh(sshd) -> collector.Reading:  # type: ignore[no-untyped-def]
    with SshSession(target_for(sshd)) as session:
        result = session.run(collector.command(), timeout=30)
    assert result.ok, result.stderr
    return collector.parse(result.stdout)


def test_one_reading_matches_psutil_within_tolerance(shared_sshd) -> None:  # type: ignore[no-untyped-def]
    reading = read_over_ssh(shared_sshd)
    memory = psutil.virtual_memory()
    assert reading.mem_total == memory.total
    # Used = total - available, as psutil computes it; other processes move it a little.
    assert abs(reading.mem_used - (memory.total - memory.available)) < 200 * MiB
    assert reading.swap_total == psutil.swap_memory().total
    for mine, theirs in zip(reading.load, os.getloadavg(), strict=True):
        assert abs(mine - theirs) < 1.0
    root = next(m for m in reading.mounts if m["mount"] == "/")
    usage = psutil.disk_usage("/")
    assert abs(root["total"] - usage.total) <= 1024  # df rounds to KiB
    assert abs(root["used"] - usage.used) < 500 * MiB
    counters = psutil.net_io_counters(pernic=True)
    expected_rx = sum(c.bytes_recv for name, c in counters.items() if name != "lo")
    assert 0 <= reading.net_rx <= expected_rx + 10 * MiB


def test_cpu_and_rates_come_from_two_readings(shared_sshd) -> None:  # type: ignore[no-untyped-def]
    first = read_over_ssh(shared_sshd)
    psutil.cpu_percent()  # starts psutil's own interval
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # some work, so the CPU is not idle
        sum(i * i for i in range(10_000))
    second = read_over_ssh(shared_sshd)
    theirs = psutil.cpu_percent()
    rates = collector.rates(first.counters, second)
    assert rates["cpu_percent"] is not None and 0 <= rates["cpu_percent"] <= 100
    assert abs(rates["cpu_percent"] - theirs) < 25  # same interval, give or take the ssh hops
    assert rates["net_rx_bps"] is not None and rates["net_rx_bps"] >= 0
    rebooted = collector.rates({**first.counters, "uptime": second.uptime + 100}, second)
    assert rebooted["cpu_percent"] is None  # uptime went back: no rates, not wrong ones


def test_output_that_is_not_linux_is_refused() -> None:
    with pytest.raises(collector.ReadingError):
        collector.parse("FreeBSD says hello\n")


def test_a_collection_tick_stores_samples_for_every_server_and_rolls_them_up(
    sshd_factory,
    make_server,
    acme,
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)  # run here
    for number in range(3):
        sshd = sshd_factory()
        server_services.pin_host_key(make_server(sshd, name=f"node-{number}"), sshd.host_public_key)
    from devflow.servers.models import Server

    local = Server.objects.create(team=acme, name="this machine", is_local=True, username="")
    for _ in range(2):
        job = enqueue("monitoring.collect")
        execute_job(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.result == {"stored": 4, "failed": 0}
    assert ServerSample.objects.count() == 8
    latest = ServerSample.objects.filter(server=local).order_by("-at").first()
    assert latest is not None and latest.cpu_percent is not None  # the second has a rate
    assert latest.mem_total == psutil.virtual_memory().total

    slot = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    slot = slot.replace(minute=slot.minute - slot.minute % 10)  # a 10-minute boundary
    ServerSample.objects.update(at=slot + timedelta(minutes=2, seconds=5))
    counts = services.roll_up(now=slot + timedelta(minutes=12))
    assert counts["minutes"] == 4 and counts["ten_minutes"] == 4
    minute = ServerRollup.objects.get(server=local, resolution="1m")
    assert minute.samples == 2 and minute.mem_total == latest.mem_total
    assert minute.bucket == slot + timedelta(minutes=2)
    ten = ServerRollup.objects.get(server=local, resolution="10m")
    assert ten.bucket == slot and ten.samples == 2
    services.roll_up(now=slot + timedelta(minutes=12))  # again: updated, not duplicated
    assert ServerRollup.objects.filter(resolution="1m").count() == 4
    hourly = services.roll_up(now=slot.replace(minute=0) + timedelta(hours=1, minutes=1))
    assert hourly["hours"] == 4
    assert ServerRollup.objects.get(server=local, resolution="1h").samples == 2

    ServerSample.objects.update(at=timezone.now() - timedelta(hours=49))
    assert services.purge() == 8


def test_collection_roll_up_and_alerts_are_queued_once_a_minute_across_schedulers(
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)
    now = timezone.now()
    every_minute = ["monitoring.collect", "monitoring.rollup", "monitoring.alerts"]
    assert ticks.tick(now) == every_minute
    assert ticks.tick(now) == []  # a second scheduler, or the next tick: already claimed
    assert Job.objects.filter(kind__in=every_minute).count() == 3
    Lock.objects.update(expires_at=now - timedelta(seconds=1))  # a minute later
    assert ticks.tick(now) == every_minute


def test_dashboard_series_read_the_series_that_fits_the_range(make_server, shared_sshd) -> None:  # type: ignore[no-untyped-def]
    from devflow.monitoring import queries
    from devflow.monitoring.models import Resolution

    server = make_server(shared_sshd)
    now = timezone.now().replace(second=0, microsecond=0)
    common = {"mem_used": 1, "mem_total": 2, "swap_used": 0, "load1": 0.5, "disk_used": 1,
              "disk_total": 2}  # fmt: skip
    ServerRollup.objects.bulk_create(
        ServerRollup(
            server=server,
            resolution=Resolution.HOUR,
            bucket=now - timedelta(hours=h),
            samples=60,
            cpu_percent=h,
            **common,
        )
        for h in range(1, 24 * 40)
    )
    month = queries.series(server, "30d", now=now)
    assert month["resolution"] == "1h" and len(month["at"]) == 24 * 30
    assert month["at"] == sorted(month["at"]) and month["cpu_percent"][-1] == 1
    assert queries.series(server, "1h", now=now)["at"] == []  # no raw samples stored
