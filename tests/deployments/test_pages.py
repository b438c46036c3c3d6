"""Deployment pages through the Django test client: deploy, follow, cancel, roll back, schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devflow.core.models import Job, JobStatus
from devflow.deployments import services
from devflow.deployments.models import (
    Deployment,
    DeployTrigger,
    Release,
    ReleaseStatus,
    ScheduledDeployment,
    ScheduleStatus,
)
from devflow.projects import services as project_services
from devflow.projects.models import Environment, Project
from tests.deployments.conftest import log_of, post, run_deployment

pytestmark = pytest.mark.usefixtures("no_queue")


@pytest.fixture
def shop(alice, acme, web1) -> Project:  # type: ignore[no-untyped-def]
    return project_services.create_project(
        alice,
        acme,
        project_services.ProjectData(
            name="Shop", repository_url="https://git.example.com/acme/shop.git", template="static"
        ),
        project_services.EnvironmentData(servers=[web1], deploy_path="/var/www/shop"),
    )


def finished(
    environment: Environment, sha: str, release_status: str, *, message: str = "A change"
) -> Deployment:
    """A deployment that ran to the end and left a release in `release_status`."""
    deployment = services.request_deployment(None, environment)
    assert deployment.job is not None
    Job.objects.filter(pk=deployment.job.pk).update(
        status=JobStatus.SUCCEEDED,
        started_at=timezone.now() - timedelta(seconds=75),
        finished_at=timezone.now(),
    )
    name = f"2026010112000{deployment.pk}-{deployment.pk}"
    Deployment.objects.filter(pk=deployment.pk).update(
        commit_sha=sha, commit_message=message, release_name=name
    )
    Release.objects.create(
        environment=environment,
        deployment=deployment,
        name=name,
        commit_sha=sha,
        status=release_status,
    )
    deployment.refresh_from_db()
    return deployment


@pytest.mark.django_db
def test_the_deploy_button_queues_a_deployment_and_opens_it(alice_client, shop, production):
    page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert f'action="/deployments/environments/{production.pk}/deploy/"' in page
    assert 'data-busy="Queuing…">Deploy main</button>' in page
    response = post(
        alice_client,
        f"/deployments/environments/{production.pk}/deploy/",
        {"commit_sha": "", "if_busy": "wait"},
    )
    deployment = Deployment.objects.get()
    assert response.redirect_chain[-1][0] == f"/deployments/{deployment.pk}/"
    detail = response.content.decode()
    assert f"Queued deployment #{deployment.pk} of main to production." in detail
    assert 'data-testid="deployment-status" class="badge badge-grey">Queued<' in detail
    assert "Cancel deployment" in detail and "Waiting for a worker" in detail
    assert f'data-poll-url="/jobs/{deployment.job_id}/log"' in detail  # the live log
    assert f'hx-get="/deployments/{deployment.pk}/steps/"' in detail
    assert deployment.job is not None and deployment.job.status == JobStatus.QUEUED
    assert deployment.trigger == DeployTrigger.MANUAL
    queue = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert 'data-testid="queue"' in queue and f"#{deployment.pk}" in queue


@pytest.mark.django_db
def test_a_bad_commit_or_a_busy_project_is_refused_with_the_reason(alice_client, production, alice):
    bad = post(
        alice_client,
        f"/deployments/environments/{production.pk}/deploy/",
        {"commit_sha": "main; reboot", "if_busy": "wait"},
    )
    assert "A commit is 7 to 40 hexadecimal characters." in bad.content.decode()
    assert not Deployment.objects.exists()
    first = services.request_deployment(alice, production)
    busy = post(
        alice_client,
        f"/deployments/environments/{production.pk}/deploy/",
        {"commit_sha": "", "if_busy": "fail"},
    )
    assert f"Deployment #{first.pk} of Shop is queued; try again" in busy.content.decode()
    assert Deployment.objects.count() == 1
    pinned = post(
        alice_client,
        f"/deployments/environments/{production.pk}/deploy/",
        {"commit_sha": "ABCDEF1", "if_busy": "wait"},
    )
    assert (
        "Queued deployment" in pinned.content.decode()
        and "of abcdef1 to" in pinned.content.decode()
    )
    assert Deployment.objects.first().requested_sha == "abcdef1"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_a_queued_deployment_can_be_cancelled(bob_client, production, alice):
    deployment = services.request_deployment(alice, production)
    page = bob_client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert f'data-confirm="Stop deployment #{deployment.pk}?' in page
    response = post(bob_client, f"/deployments/{deployment.pk}/cancel/")
    page = response.content.decode()
    assert f"Cancelled deployment #{deployment.pk} before it started." in page
    assert ">Cancelled<" in page and "Cancel deployment" not in page
    assert deployment.job is not None
    deployment.job.refresh_from_db()
    assert deployment.job.status == JobStatus.CANCELLED
    again = post(bob_client, f"/deployments/{deployment.pk}/cancel/")
    assert "This deployment has already finished." in again.content.decode()


@pytest.mark.django_db
def test_viewers_cannot_deploy_or_cancel(client, bob, production, alice):
    from devflow.accounts.models import Membership

    Membership.objects.filter(user=bob).update(role="viewer")
    deployment = services.request_deployment(alice, production)
    client.force_login(bob)
    assert "Cancel deployment" not in client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert client.post(f"/deployments/{deployment.pk}/cancel/").status_code == 403
    assert client.post(f"/deployments/environments/{production.pk}/deploy/").status_code == 403
    assert client.get(f"/deployments/environments/{production.pk}/schedule/").status_code == 403


@pytest.mark.django_db
def test_the_rollback_button_asks_then_queues_a_rollback(alice_client, shop, production):
    old = finished(production, "a" * 40, ReleaseStatus.KEPT, message="First version")
    live = finished(production, "b" * 40, ReleaseStatus.ACTIVE, message="Second version")
    release = Release.objects.get(deployment=old)
    page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert (
        f'data-confirm="Roll back production to release {release.name} (commit aaaaaaaa)?' in page
    )
    assert page.count(">Roll back</button>") == 1  # not on the live release
    live_page = alice_client.get(f"/deployments/{live.pk}/").content.decode()
    assert "Roll back to this release" not in live_page
    assert (
        "Roll back to this release" in alice_client.get(f"/deployments/{old.pk}/").content.decode()
    )

    response = post(alice_client, f"/deployments/releases/{release.pk}/rollback/")
    rollback = Deployment.objects.get(trigger=DeployTrigger.ROLLBACK)
    assert rollback.rollback_of == release and rollback.commit_sha == "a" * 40
    assert response.redirect_chain[-1][0] == f"/deployments/{rollback.pk}/"
    detail = response.content.decode()
    assert f"Queued deployment #{rollback.pk}: roll back to release {release.name}." in detail
    assert f"back to release <code>{release.name}</code>" in detail
    live_release = Release.objects.get(deployment=live)
    refused = post(alice_client, f"/deployments/releases/{live_release.pk}/rollback/")
    assert "is already live" in refused.content.decode()


@pytest.mark.django_db
def test_a_purged_release_offers_to_redeploy_its_commit(alice_client, shop, production):
    old = finished(production, "c" * 40, ReleaseStatus.PURGED)
    finished(production, "d" * 40, ReleaseStatus.ACTIVE)
    page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert "Purged from servers" in page and "Redeploy this commit" in page
    assert "Redeploy this commit" in alice_client.get(f"/deployments/{old.pk}/").content.decode()
    response = post(alice_client, f"/deployments/{old.pk}/redeploy/")
    again = Deployment.objects.get(redeploy_of=old)
    assert again.requested_sha == "c" * 40
    assert response.redirect_chain[-1][0] == f"/deployments/{again.pk}/"
    assert f"Queued deployment #{again.pk}: build cccccccc again." in response.content.decode()


@pytest.mark.django_db
def test_the_steps_partial_polls_until_the_deployment_ends(alice_client, production, alice):
    deployment = services.request_deployment(alice, production)
    assert deployment.job is not None
    Job.objects.filter(pk=deployment.job.pk).update(status=JobStatus.RUNNING)
    Deployment.objects.filter(pk=deployment.pk).update(
        steps=[
            {"key": "connect", "label": "Connect to servers", "status": "ok", "seconds": 0.4},
            {"key": "fetch", "label": "Fetch repository", "status": "running"},
        ]
    )
    running = alice_client.get(f"/deployments/{deployment.pk}/steps/").content.decode()
    assert 'hx-trigger="every 1s"' in running
    assert "Connect to servers" in running and ">Done<" in running and "Running" in running
    Job.objects.filter(pk=deployment.job.pk).update(status=JobStatus.FAILED)
    Deployment.objects.filter(pk=deployment.pk).update(
        steps=[
            {"key": "connect", "label": "Connect to servers", "status": "ok", "seconds": 0.4},
            {
                "key": "fetch",
                "label": "Fetch repository",
                "status": "failed",
                "seconds": 65,
                "error": "branch 'main' does not exist",
            },
        ],
        outcome="Failed before the switch; the live release is untouched.",
    )
    done = alice_client.get(f"/deployments/{deployment.pk}/steps/").content.decode()
    assert "hx-trigger" not in done
    assert ">Failed<" in done and "1 min 5 s" in done and "branch &#x27;main&#x27;" in done
    page = alice_client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Failed before the switch; the live release is untouched." in page


@pytest.mark.django_db
def test_scheduling_refuses_a_time_in_the_dst_gap(alice_client, production):
    response = post(
        alice_client,
        f"/deployments/environments/{production.pk}/schedule/",
        {
            "run_at": "2027-03-28T02:30",
            "timezone": "Europe/Berlin",
            "remind_minutes_before": 15,
            "note": "",
        },
    )
    page = response.content.decode()
    assert "2027-03-28 02:30 does not exist in Europe/Berlin" in page
    assert 'value="2027-03-28T02:30"' in page  # what was typed is kept
    assert not ScheduledDeployment.objects.exists()


@pytest.mark.django_db
def test_schedules_are_listed_in_their_zone_edited_and_cancelled(alice_client, shop, production):
    page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert '<option value="UTC" selected>UTC</option>' in page
    assert 'type="datetime-local"' in page and 'value="15"' in page
    response = post(
        alice_client,
        f"/deployments/environments/{production.pk}/schedule/",
        {
            "run_at": "2031-06-01T21:30",
            "timezone": "Europe/Berlin",
            "remind_minutes_before": 30,
            "note": "Maintenance window",
        },
    )
    schedule = ScheduledDeployment.objects.get()
    assert schedule.run_at.isoformat() == "2031-06-01T19:30:00+00:00"
    page = response.content.decode()
    assert "Scheduled a deployment of production for 2031-06-01 21:30 (Europe/Berlin)." in page
    assert "Sun 2031-06-01 21:30" in page and "Reminder 30 min before" in page
    assert "Maintenance window" in page

    edit = alice_client.get(f"/deployments/schedules/{schedule.pk}/edit/").content.decode()
    assert 'value="2031-06-01T21:30"' in edit
    post(
        alice_client,
        f"/deployments/schedules/{schedule.pk}/edit/",
        {"run_at": "2031-06-02T06:00", "timezone": "UTC", "remind_minutes_before": 0},
    )
    schedule.refresh_from_db()
    assert schedule.run_at.isoformat() == "2031-06-02T06:00:00+00:00"
    assert schedule.remind_minutes_before == 0
    past = post(
        alice_client,
        f"/deployments/schedules/{schedule.pk}/edit/",
        {"run_at": "2001-01-01T00:00", "timezone": "UTC", "remind_minutes_before": 0},
    )
    assert "That time is in the past" in past.content.decode()

    cancelled = post(alice_client, f"/deployments/schedules/{schedule.pk}/cancel/")
    assert "Cancelled the scheduled deployment." in cancelled.content.decode()
    schedule.refresh_from_db()
    assert schedule.status == ScheduleStatus.CANCELLED


@pytest.mark.django_db
def test_another_teams_deployment_pages_are_404(client, charlie, shop, production, alice):
    deployment = finished(production, "e" * 40, ReleaseStatus.KEPT)
    release = Release.objects.get(deployment=deployment)
    schedule = ScheduledDeployment.objects.create(
        team=shop.team, environment=production, run_at=timezone.now() + timedelta(days=1)
    )
    client.force_login(charlie)
    for path in (
        f"/deployments/{deployment.pk}/",
        f"/deployments/{deployment.pk}/steps/",
        f"/deployments/environments/{production.pk}/schedule/",
        f"/deployments/schedules/{schedule.pk}/edit/",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/deployments/{deployment.pk}/cancel/",
        f"/deployments/{deployment.pk}/redeploy/",
        f"/deployments/releases/{release.pk}/rollback/",
        f"/deployments/environments/{production.pk}/deploy/",
        f"/deployments/schedules/{schedule.pk}/cancel/",
    ):
        assert client.post(path).status_code == 404, path
    assert (
        f'data-testid="deployment-{deployment.pk}"'
        not in client.get("/deployments/").content.decode()
    )
    assert Deployment.objects.count() == 1


@pytest.mark.django_db
def test_the_list_filters_by_project_and_status(alice_client, alice, acme, shop, production, web1):
    blog = project_services.create_project(
        alice,
        acme,
        project_services.ProjectData(name="Blog", repository_url="/srv/git/blog.git"),
        project_services.EnvironmentData(servers=[web1], deploy_path="/var/www/blog"),
    )
    done = finished(production, "f" * 40, ReleaseStatus.ACTIVE)
    queued = services.request_deployment(alice, blog.environments.get())

    def shown(query: str) -> set[int]:
        page = alice_client.get(f"/deployments/?{query}").content.decode()
        return {d.pk for d in (done, queued) if f'data-testid="deployment-{d.pk}"' in page}

    assert shown("") == {done.pk, queued.pk}
    assert shown(f"project={blog.pk}") == {queued.pk}
    assert shown("status=succeeded") == {done.pk}
    assert "1 min 15 s" in alice_client.get("/deployments/").content.decode()
    assert (
        "No deployment matches" in alice_client.get("/deployments/?status=failed").content.decode()
    )


@pytest.mark.django_db
def test_list_pages_do_not_query_per_deployment(alice_client, production, shop):
    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get(path).status_code == 200
        return len(captured)

    finished(production, "1" * 40, ReleaseStatus.ACTIVE)
    alice_client.get(f"/projects/{shop.pk}/")  # the first view queues a refresh of the commits
    few = {path: count(path) for path in ("/deployments/", f"/projects/{shop.pk}/", "/")}
    for n in range(2, 8):
        finished(production, str(n) * 40, ReleaseStatus.KEPT)
    assert {path: count(path) for path in few} == few


@pytest.mark.django_db(transaction=True)
def test_a_deployment_from_the_page_runs_and_its_page_shows_steps_log_and_snapshot(
    client, alice, git_repo, local_server, make_project
):
    client.force_login(alice)
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    project_services.set_variable(alice, environment, "API_TOKEN", "tok-3f9a-very-secret")
    response = client.post(
        f"/deployments/environments/{environment.pk}/deploy/", {"if_busy": "wait"}, follow=True
    )
    deployment = run_deployment(Deployment.objects.get())
    assert deployment.job is not None
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    assert response.redirect_chain[-1][0] == f"/deployments/{deployment.pk}/"
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert ">Succeeded<" in page and f"Release {deployment.release_name}" in page
    assert "First version" in page and "Dana Developer" in page
    assert len(deployment.steps) == 10
    assert page.count(">Done<") == 6 and page.count(">Skipped<") == 4
    assert "No health check URL set for this environment." in page
    assert "hx-trigger" not in page.split('id="deployment-steps"')[1].split(">")[0]
    assert "── Fetch repository" in page  # the log, rendered for a reload
    assert "<code>API_TOKEN</code>" in page and "tok-3f9a-very-secret" not in page
    assert "test -f index.html" in page  # the static template's smoke check, in the snapshot
    detail = client.get(f"/projects/{project.pk}/").content.decode()
    assert deployment.release_name in detail and "Up to date" in detail
    assert "First version" in detail


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(None, "—"), (0.042, "42 ms"), (2.34, "2.3 s"), (42, "42 s"), (185, "3 min 5 s"),
     (3720, "1 h 2 min")],
)  # fmt: skip
def test_step_durations_read_naturally(seconds: float | None, label: str) -> None:
    from devflow.projects.views.common import duration_label

    assert duration_label(seconds) == label
