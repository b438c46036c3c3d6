"""Deployments tell the team's channels how they ended, and remind before scheduled runs."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from devflow.core.models import JobStatus
from devflow.deployments import scheduling, services
from devflow.deployments.models import Release
from devflow.notifications import services as notifications
from devflow.notifications.models import Delivery
from tests.deployments.conftest import log_of, run_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]

EVERYTHING = ["deployment.succeeded", "deployment.failed", "deployment.rolled_back",
              "deployment.reminder"]  # fmt: skip


@pytest.fixture
def channel(acme, alice):  # type: ignore[no-untyped-def]
    return notifications.create_channel(
        acme, alice, name="deploys", url="json://127.0.0.1:9/x", events_wanted=EVERYTHING
    )


@pytest.fixture
def site(git_repo, local_server, make_project):  # type: ignore[no-untyped-def]
    repo = git_repo("site")
    return repo, make_project(repo, [local_server]).environments.get()


def test_success_failure_and_rollback_each_send_one_notification(site, channel, alice) -> None:  # type: ignore[no-untyped-def]
    repo, environment = site
    first = run_deployment(services.request_deployment(alice, environment))
    assert first.job.status == JobStatus.SUCCEEDED, log_of(first)
    [succeeded] = Delivery.objects.all()
    assert succeeded.event == "deployment.succeeded"
    assert succeeded.title == f"Deployed {environment.project.name} ({environment.name})"
    assert "started by alice" in succeeded.body and first.short_sha in succeeded.body
    assert succeeded.link.endswith(f"/deployments/{first.pk}/")
    first.refresh_from_db()
    assert succeeded.data == {"deployment": {  # the facts an event webhook's `data` carries
        "id": first.pk, "status": "succeeded",
        "project": {"id": environment.project_id, "name": environment.project.name},
        "environment": {"id": environment.pk, "name": environment.name},
        "branch": first.branch, "commit_sha": first.commit_sha,
        "commit_message": first.commit_message, "release": first.release_name,
        "trigger": first.trigger, "actor": "alice", "rollback_of": None, "error": "",
    }}  # fmt: skip

    environment.project.build_commands = [{"run": "echo broken build >&2; exit 3", "once": False}]
    environment.project.save()
    second = run_deployment(services.request_deployment(alice, environment))
    assert second.job.status == JobStatus.FAILED
    failed = Delivery.objects.get(event="deployment.failed")
    assert failed.title == f"Deployment of {environment.project.name} ({environment.name}) failed"
    assert second.outcome and second.outcome in failed.body
    assert failed.data["deployment"]["status"] == "failed"
    assert failed.data["deployment"]["error"] == second.outcome

    repo.commit({"index.html": "<h1>v2</h1>\n"}, "v2")
    environment.project.build_commands = []
    environment.project.save()
    third = run_deployment(services.request_deployment(alice, environment))
    assert third.job.status == JobStatus.SUCCEEDED, log_of(third)
    back = run_deployment(
        services.request_rollback(alice, Release.objects.get(name=first.release_name))
    )
    assert back.job.status == JobStatus.SUCCEEDED, log_of(back)
    rolled = Delivery.objects.get(event="deployment.rolled_back")
    assert first.release_name in rolled.title
    assert rolled.data["deployment"]["rollback_of"] is not None
    assert rolled.data["deployment"]["release"] == first.release_name
    assert list(Delivery.objects.order_by("pk").values_list("event", flat=True)) == [
        "deployment.succeeded", "deployment.failed", "deployment.succeeded",
        "deployment.rolled_back",
    ]  # fmt: skip


def test_a_scheduled_deployment_reminds_once(site, channel, alice) -> None:  # type: ignore[no-untyped-def]
    _, environment = site
    now = timezone.now()
    berlin = (now + timedelta(minutes=10)).astimezone(ZoneInfo("Europe/Berlin"))
    scheduling.schedule_deployment(
        alice, environment, berlin.replace(tzinfo=None), "Europe/Berlin", remind_minutes_before=15
    )

    scheduling.send_reminders(now)
    scheduling.send_reminders(now + timedelta(seconds=30))

    [reminder] = Delivery.objects.all()
    assert reminder.event == "deployment.reminder"
    assert "deploys in 9 minutes" in reminder.title or "deploys in 10 minutes" in reminder.title
    assert "Europe/Berlin" in reminder.body
