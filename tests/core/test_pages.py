"""Health endpoints, the job pages and the job log WebSocket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import TestCase

from devflow.core.jobs import execute_job
from devflow.core.models import Job, JobStatus
from tests.conftest import run_async

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_database_and_broker(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["ok"]


def test_readyz_is_503_and_names_the_broker_when_it_is_down(client):
    from devflow.taskqueue import app
    from tests.services.test_celery_workers import reset_connections

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    reset_connections()
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = previous
        reset_connections()
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False and "broker unreachable" in body["broker"]["detail"]


def test_run_check_queues_a_job_and_its_page_shows_the_log(alice_client, acme, monkeypatch):
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = alice_client.post("/settings/check", follow=True)
    job = Job.objects.get(kind="core.diagnostics")
    assert f"Queued installation check #{job.pk}.".encode() in response.content
    assert job.status == JobStatus.QUEUED and job.actor.username == "alice"
    execute_job(job.pk)
    page = alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Succeeded" in page and "Database: " in page
    update = alice_client.get(f"/jobs/{job.pk}/log?after=0").json()
    assert update["job"]["status"] == "succeeded"
    assert all(line["seq"] > 0 for line in update["lines"])


def test_a_viewer_cannot_run_checks_or_cancel(acme, bob, client):
    from devflow.accounts.models import Membership

    Membership.objects.filter(user=bob).update(role="viewer")
    client.force_login(bob)
    assert client.post("/settings/check").status_code == 403
    job = Job.objects.create(team=acme, kind="tests.steps")
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 403
    assert client.get(f"/jobs/{job.pk}/").status_code == 200


def test_cancel_from_the_page_stops_a_queued_job(alice_client, acme):
    job = Job.objects.create(team=acme, kind="tests.steps")
    response = alice_client.post(f"/jobs/{job.pk}/cancel", follow=True)
    assert f"Asked job #{job.pk} to stop.".encode() in response.content
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_job_list_filters_by_kind_and_status(alice_client, acme):
    Job.objects.create(
        team=acme, kind="tests.steps", status=JobStatus.FAILED, target_label="the-failed-one"
    )
    Job.objects.create(
        team=acme, kind="core.diagnostics", status=JobStatus.SUCCEEDED, target_label="the-good-one"
    )
    page = alice_client.get("/jobs/?status=failed").content.decode()
    assert "the-failed-one" in page and "the-good-one" not in page
    page = alice_client.get("/jobs/?kind=core.diagnostics").content.decode()
    assert "the-good-one" in page and "the-failed-one" not in page


async def connect(user, job_id: int) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    from channels.routing import URLRouter

    from devflow.asgi import websocket_urls

    communicator = WebsocketCommunicator(URLRouter(websocket_urls), f"/ws/jobs/{job_id}/log")
    communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
def test_the_log_websocket_streams_lines_to_team_members_only(alice, acme, charlie):
    job = Job.objects.create(team=acme, kind="tests.steps", params={"steps": 2})
    execute_job(job.pk)
    run_async(websocket_scenario, alice, charlie, job.pk)


async def websocket_scenario(alice, charlie, job_id: int) -> None:  # type: ignore[no-untyped-def]
    job = await sync_to_async(Job.objects.get)(pk=job_id)

    mine = await connect(alice, job.pk)
    connected, _ = await mine.connect()
    assert connected
    message = await mine.receive_json_from(timeout=10)
    assert "step 2 of 2" in [line["text"] for line in message["lines"]]
    assert message["job"]["status"] == "succeeded"
    await mine.disconnect()

    theirs = await connect(charlie, job.pk)
    connected, code = await theirs.connect()
    assert not connected and code == 4404


def test_a_deployer_opening_project_settings_gets_the_friendly_403(client, bob, acme):
    from devflow.projects.models import Project

    project = Project.objects.create(team=acme, name="Shop", repository_url="/srv/git/shop.git")
    client.force_login(bob)
    response = client.get(f"/projects/{project.pk}/settings/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have permission to do this in Acme." in page
    assert "ask an owner of the team" in page
    assert 'class="sidebar"' in page  # the app's layout, not Django's bare page


def test_missing_pages_get_the_friendly_404_signed_in_or_not(client, alice):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing at" in page
    assert 'class="auth"' in page and 'class="sidebar"' not in page  # the sign-in layout
    client.force_login(alice)
    response = client.get("/projects/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing at <code" in page and "/projects/999999/" in page
    assert 'class="sidebar"' in page
