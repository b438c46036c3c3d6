"""Scheduled deployments: time zones, DST gaps, reminders, and firing exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from devflow.core.models import ActivityLog
from devflow.deployments import scheduling
from devflow.deployments.models import Deployment, DeployTrigger, ScheduledDeployment
from devflow.projects.services import ProjectError
from tests.conftest import REPO, database_url_for_subprocess, wait_for


@pytest.fixture
def environment(git_repo, local_server, make_project):  # type: ignore[no-untyped-def]
    return make_project(git_repo("site"), [local_server]).environments.get()


def test_local_times_are_read_in_their_zone() -> None:
    utc = scheduling.to_utc(datetime(2027, 7, 1, 3, 0), "Europe/Berlin")
    assert utc == datetime(2027, 7, 1, 1, 0, tzinfo=utc.tzinfo)


def test_a_time_in_the_daylight_saving_gap_is_refused() -> None:
    with pytest.raises(ProjectError, match="does not exist in Europe/Berlin"):
        scheduling.to_utc(datetime(2027, 3, 28, 2, 30), "Europe/Berlin")
    with pytest.raises(ProjectError, match="Unknown time zone"):
        scheduling.to_utc(datetime(2027, 3, 28, 2, 30), "Mars/Olympus")


@pytest.mark.django_db
def test_a_time_in_the_past_is_refused(environment, alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProjectError, match="in the past"):
        scheduling.schedule_deployment(alice, environment, datetime(2020, 1, 1, 12, 0), "UTC")
    assert not ScheduledDeployment.objects.exists()


@pytest.mark.django_db
def test_schedule_edit_and_cancel(environment, alice) -> None:  # type: ignore[no-untyped-def]
    later = (timezone.now() + timedelta(days=2)).replace(tzinfo=None)
    schedule = scheduling.schedule_deployment(
        alice, environment, later, "America/New_York", remind_minutes_before=30, note="Window"
    )
    assert scheduling.local_run_at(schedule).strftime("%H:%M") == later.strftime("%H:%M")
    moved = scheduling.update_schedule(
        alice, schedule, later + timedelta(hours=1), "UTC", remind_minutes_before=5
    )
    assert moved.timezone == "UTC" and moved.remind_minutes_before == 5
    scheduling.cancel_schedule(alice, moved)
    with pytest.raises(ProjectError, match="already started or was cancelled"):
        scheduling.cancel_schedule(alice, moved)
    scheduling.fire_due(timezone.now() + timedelta(days=3))
    assert not Deployment.objects.exists()
    actions = set(ActivityLog.objects.values_list("action", flat=True))
    assert {"deployment.scheduled", "deployment.schedule_cancelled"} <= actions


@pytest.mark.django_db
def test_a_reminder_is_written_once_before_the_deployment(environment, alice) -> None:  # type: ignore[no-untyped-def]
    run_at = (timezone.now() + timedelta(minutes=20)).replace(tzinfo=None)
    schedule = scheduling.schedule_deployment(
        alice, environment, run_at, "UTC", remind_minutes_before=15
    )
    assert scheduling.send_reminders(timezone.now()) == 0  # 20 minutes out: not yet
    soon = schedule.run_at - timedelta(minutes=14)
    assert scheduling.send_reminders(soon) == 1
    assert scheduling.send_reminders(soon + timedelta(minutes=1)) == 0
    reminder = ActivityLog.objects.get(action="deployment.reminder")
    assert reminder.details["minutes"] == 14


@pytest.mark.django_db(transaction=True)
def test_racing_ticks_fire_a_schedule_exactly_once(environment, alice, no_queue) -> None:  # type: ignore[no-untyped-def]
    run_at = (timezone.now() + timedelta(minutes=5)).replace(tzinfo=None)
    schedule = scheduling.schedule_deployment(alice, environment, run_at, "UTC")
    barrier = threading.Barrier(4)
    started: list[list[int]] = []

    def tick() -> None:
        try:
            barrier.wait()
            started.append(scheduling.fire_due(schedule.run_at + timedelta(seconds=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(len(batch) for batch in started) == [0, 0, 0, 1]
    deployment = Deployment.objects.get()
    assert deployment.trigger == DeployTrigger.SCHEDULE and deployment.actor == alice
    schedule.refresh_from_db()
    assert schedule.status == "fired" and schedule.deployment == deployment


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_scheduler_processes_fire_a_schedule_once(environment, alice, settings) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(settings.DATA_DIR),
        "DATABASE_URL": database_url_for_subprocess(),
        "DEVFLOW_SECRET_KEY_FILE": str(settings.DEVFLOW_SECRET_KEY_FILE),
        "DEVFLOW_SCHEDULER_TICK_SECONDS": "1",
        "PYTHONPATH": str(REPO),
    }
    env.pop("REDIS_URL", None)
    schedule = ScheduledDeployment.objects.create(
        team=environment.project.team,
        environment=environment,
        run_at=timezone.now() + timedelta(seconds=2),
        created_by=alice,
    )
    schedulers = [
        subprocess.Popen([sys.executable, "-m", "devflow", "scheduler"], env=env) for _ in range(2)
    ]
    try:
        wait_for(lambda: Deployment.objects.exists(), 30, "the scheduled deployment")
        time.sleep(3)  # both schedulers tick a few more times
        assert all(process.poll() is None for process in schedulers)
    finally:
        for process in schedulers:
            process.terminate()
            process.wait(15)
    assert Deployment.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.status == "fired"
    assert schedule.deployment == Deployment.objects.get()
