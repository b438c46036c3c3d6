"""Deployments through the API: deploy, follow, cancel, redeploy, roll back, schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.accounts.services import create_user
from devflow.core.jobs import execute_job
from devflow.core.models import ActivityLog, ActivitySource, Job, JobStatus
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
from devflow.servers.models import Server
from tests.api.conftest import problem_of
from tests.conftest import PASSWORD
from tests.deployments import conftest as deployments
from tests.deployments.conftest import current_of, log_of

# The deployment tests' fixtures: real git repositories, this machine as a server, no queue.
git_repo = deployments.git_repo
local_server = deployments.local_server
make_project = deployments.make_project
no_queue = deployments.no_queue

pytestmark = pytest.mark.usefixtures("no_queue")

SHA = "3f2c9ab8e1d4c5b6a7f8091a2b3c4d5e6f708192"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def web1(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def shop(alice, acme, web1) -> Project:  # type: ignore[no-untyped-def]
    return project_services.create_project(
        alice, acme,
        project_services.ProjectData(name="Shop", repository_url="https://git.example.com/s.git"),
        project_services.EnvironmentData(servers=[web1], deploy_path="/var/www/shop"),
    )  # fmt: skip


@pytest.fixture
def production(shop) -> Environment:  # type: ignore[no-untyped-def]
    return shop.environments.get()


@pytest.fixture
def theirs(charlie, globex) -> Environment:  # type: ignore[no-untyped-def]
    server = Server.objects.create(team=globex, name="g-1", host="10.0.9.1")
    project = project_services.create_project(
        charlie, globex,
        project_services.ProjectData(name="Globex", repository_url="https://git.example.com/g.git"),
        project_services.EnvironmentData(servers=[server], deploy_path="/var/www/globex"),
    )  # fmt: skip
    return project.environments.get()


@pytest.fixture
def viewer(acme) -> User:  # type: ignore[no-untyped-def]
    """Dave only looks, in Acme."""
    user = create_user(username="dave", email="dave@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    return user


def finished(deployment: Deployment, sha: str = SHA, status: str = JobStatus.SUCCEEDED) -> Release:
    """Pretend the pipeline ran: the job ended, a commit resolved, a release was left."""
    assert deployment.job is not None
    Job.objects.filter(pk=deployment.job.pk).update(status=status)
    Deployment.objects.filter(pk=deployment.pk).update(commit_sha=sha)
    return Release.objects.create(
        environment=deployment.environment, deployment=deployment, commit_sha=sha,
        name=f"2027010100000{deployment.pk}", status=ReleaseStatus.KEPT,
    )  # fmt: skip


# End to end, on this machine ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deploy_follow_the_log_and_roll_back_through_the_api(  # type: ignore[no-untyped-def]
    api, alice, git_repo, local_server, make_project
) -> None:
    repo = git_repo("site")
    project = make_project(repo, [local_server])
    environment = project.environments.get()
    deploy_path = Path(environment.deploy_path)
    client = api(alice, "read", "deploy")

    response = client.post(f"/api/v1/environments/{environment.pk}/deploy/", {}, format="json")
    assert response.status_code == 202, response.json()
    first = response.json()
    assert first["status"] == "queued" and first["trigger"] == "api" and first["job"]
    assert execute_job(first["job"]) == JobStatus.SUCCEEDED
    detail = client.get(f"/api/v1/deployments/{first['id']}/").json()
    assert detail["status"] == "succeeded", log_of(Deployment.objects.get(pk=first["id"]))
    assert detail["commit_sha"] == repo.git("rev-parse", "HEAD")
    assert detail["release_status"] == "active" and detail["steps"] and detail["outcome"]
    assert detail["finished_at"] is not None and detail["error"] == ""

    log = client.get(f"/api/v1/deployments/{first['id']}/log/").json()
    assert log["finished"] is True and log["job"]["status"] == "succeeded"
    assert len(log["lines"]) >= 3 and log["after"] == log["lines"][-1]["seq"]
    texts = "\n".join(line["text"] for line in log["lines"])
    assert texts == log_of(Deployment.objects.get(pk=first["id"]))
    later = client.get(f"/api/v1/deployments/{first['id']}/log/?after={log['after']}").json()
    assert later["lines"] == [] and later["after"] == log["after"]

    repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second version")
    response = client.post(f"/api/v1/environments/{environment.pk}/deploy/", {}, format="json")
    second = response.json()
    assert execute_job(second["job"]) == JobStatus.SUCCEEDED
    assert (deploy_path / "current" / "index.html").read_text() == "<h1>Version 2</h1>\n"

    releases = client.get(f"/api/v1/releases/?environment={environment.pk}").json()["results"]
    assert [r["status"] for r in releases] == ["active", "kept"]
    kept = releases[1]
    assert kept["can_roll_back_to"] is True and kept["deployment"] == first["id"]
    response = client.post(f"/api/v1/releases/{kept['id']}/rollback/", {}, format="json")
    assert response.status_code == 202, response.json()
    rollback = response.json()
    assert rollback["trigger"] == DeployTrigger.ROLLBACK and rollback["rollback_of"] == kept["id"]
    assert execute_job(rollback["job"]) == JobStatus.SUCCEEDED
    assert current_of(deploy_path) == kept["name"]
    assert (deploy_path / "current" / "index.html").read_text() == "<h1>Version 1</h1>\n"
    response = client.post(f"/api/v1/releases/{kept['id']}/rollback/", {}, format="json")
    assert "already live" in problem_of(response)["errors"]["non_field_errors"][0]


# Starting one -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_idempotency_key_starts_one_deployment(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    url = f"/api/v1/environments/{production.pk}/deploy/"
    body = {"commit_sha": SHA[:7], "if_busy": "wait"}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    deployment = Deployment.objects.get()
    assert deployment.requested_sha == SHA[:7] and deployment.trigger == DeployTrigger.API
    assert Job.objects.filter(kind="deployments.deploy").count() == 1
    row = ActivityLog.objects.get(action="deployment.requested")
    assert row.source == ActivitySource.API and row.actor == alice
    other = client.post(url, {"if_busy": "fail"}, format="json", HTTP_IDEMPOTENCY_KEY="release-42")
    assert other.status_code == 422
    assert Deployment.objects.count() == 1


@pytest.mark.django_db
def test_bad_deploy_input_is_a_problem_and_starts_nothing(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    url = f"/api/v1/environments/{production.pk}/deploy/"
    for body, field in [
        ({"branch": "dev"}, "branch"),
        ({"if_busy": "later"}, "if_busy"),
        ({"commit_sha": ["abc1234"]}, "commit_sha"),
        ({"commit_sha": "not-a-sha"}, "non_field_errors"),
    ]:
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        assert field in problem_of(response)["errors"], response.json()
    response = client.post("/api/v1/environments/999999/deploy/", {}, format="json")
    assert response.status_code == 404
    problem_of(response)
    assert not Deployment.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_if_busy_fail_refuses_while_another_deployment_is_queued(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    running = services.request_deployment(alice, production)
    response = api(alice, "read", "deploy").post(
        f"/api/v1/environments/{production.pk}/deploy/", {"if_busy": "fail"}, format="json"
    )
    message = problem_of(response)["errors"]["non_field_errors"][0]
    assert message.startswith(f"Deployment #{running.pk} of Shop is queued")
    assert Deployment.objects.count() == 1


@pytest.mark.django_db
def test_a_deployer_deploys_but_cannot_edit_and_a_viewer_does_neither(  # type: ignore[no-untyped-def]
    api, bob, viewer, production
) -> None:
    url = f"/api/v1/environments/{production.pk}/deploy/"
    deployer = api(bob, "read", "deploy", "write")
    assert deployer.post(url, {}, format="json").status_code == 202
    response = deployer.patch(
        f"/api/v1/environments/{production.pk}/", {"branch": "dev"}, format="json"
    )
    assert response.status_code == 403
    looker = api(viewer, "read", "deploy", "write")
    response = looker.post(url, {}, format="json")
    assert response.status_code == 403
    assert problem_of(response)["detail"] == "Your role in this team does not allow this."
    deployment = Deployment.objects.get()
    assert looker.post(f"/api/v1/deployments/{deployment.pk}/cancel/").status_code == 403
    assert looker.get(f"/api/v1/deployments/{deployment.pk}/").status_code == 200
    assert Deployment.objects.count() == 1 and deployment.actor == bob
    production.refresh_from_db()
    assert production.branch == "main"


@pytest.mark.django_db
def test_a_token_without_the_deploy_scope_starts_nothing(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write", "admin")
    response = client.post(f"/api/v1/environments/{production.pk}/deploy/", {}, format="json")
    assert response.status_code == 403
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    deployment = services.request_deployment(alice, production)
    release = finished(deployment)
    for path in (
        f"/api/v1/deployments/{deployment.pk}/cancel/",
        f"/api/v1/deployments/{deployment.pk}/redeploy/",
        f"/api/v1/releases/{release.pk}/rollback/",
    ):
        assert client.post(path, {}, format="json").status_code == 403, path
    assert Deployment.objects.count() == 1


# Reading, cancelling, redeploying -----------------------------------------------------------


@pytest.mark.django_db
def test_the_list_filters_orders_and_costs_the_same_for_1_and_20(  # type: ignore[no-untyped-def]
    api, alice, shop, production
) -> None:
    client = api(alice, "read")
    client.get("/api/v1/me/")  # the token's first use is noted once, not on every call
    finished(services.request_deployment(alice, production))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/deployments/").status_code == 200
        return len(captured)

    one = queries()
    for number in range(19):
        deployment = services.request_deployment(alice, production, trigger=DeployTrigger.API)
        if number % 2:
            finished(deployment, status=JobStatus.FAILED)
    body = client.get("/api/v1/deployments/").json()
    assert body["count"] == 20
    assert queries() == one

    newest = Deployment.objects.order_by("-created_at", "-id").first()
    assert body["results"][0]["id"] == newest.pk
    oldest = client.get("/api/v1/deployments/?ordering=id").json()["results"][0]
    assert oldest["trigger"] == "manual" and oldest["release_status"] == "kept"
    for query, count in [
        ("status=failed", 9), ("status=queued", 10), ("trigger=manual", 1),
        (f"project={shop.pk}", 20), (f"environment={production.pk}&status=succeeded", 1),
    ]:  # fmt: skip
        assert client.get(f"/api/v1/deployments/?{query}").json()["count"] == count, query
    assert client.get("/api/v1/deployments/?status=sleeping").status_code == 400


@pytest.mark.django_db
def test_a_deployment_shows_what_it_ran_with_but_never_variable_values(  # type: ignore[no-untyped-def]
    api, alice, production
) -> None:
    project_services.set_variable(alice, production, "DB_PASSWORD", "s3cr3t")
    deployment = services.request_deployment(alice, production)
    response = api(alice, "read", "read:secrets").get(f"/api/v1/deployments/{deployment.pk}/")
    body = response.json()
    assert body["variable_names"] == ["DB_PASSWORD"] and "s3cr3t" not in response.content.decode()
    assert body["pipeline"]["deploy_path"] == "/var/www/shop" and body["job"] == deployment.job_id
    assert body["project_name"] == "Shop" and body["environment_name"] == "production"


@pytest.mark.django_db
def test_cancel_a_queued_deployment(api, bob, production) -> None:  # type: ignore[no-untyped-def]
    deployment = services.request_deployment(bob, production)
    client = api(bob, "read", "deploy")
    response = client.post(f"/api/v1/deployments/{deployment.pk}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/deployments/{deployment.pk}/cancel/")
    assert "already finished" in problem_of(again)["errors"]["non_field_errors"][0]
    log = client.get(f"/api/v1/deployments/{deployment.pk}/log/").json()
    assert log["finished"] is True and log["lines"] == []


@pytest.mark.django_db
def test_redeploy_builds_the_same_commit_once_per_key(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    previous = services.request_deployment(alice, production)
    client = api(alice, "read", "deploy")
    url = f"/api/v1/deployments/{previous.pk}/redeploy/"
    response = client.post(url, {}, format="json")
    assert "never resolved a commit" in problem_of(response)["errors"]["non_field_errors"][0]
    finished(previous)
    first = client.post(url, {"if_busy": "wait"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(url, {"if_busy": "wait"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    redeploy = Deployment.objects.get(redeploy_of=previous)
    assert redeploy.requested_sha == SHA and redeploy.trigger == DeployTrigger.API


@pytest.mark.django_db
def test_a_kept_release_rolls_back_once_per_key(api, bob, production) -> None:  # type: ignore[no-untyped-def]
    release = finished(services.request_deployment(bob, production))
    client = api(bob, "read", "deploy")
    url = f"/api/v1/releases/{release.pk}/rollback/"
    first = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="back")
    again = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="back")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert Deployment.objects.filter(rollback_of=release).count() == 1
    Release.objects.filter(pk=release.pk).update(status=ReleaseStatus.PURGED)
    response = client.post(url, {}, format="json")
    assert "redeploy its commit instead" in problem_of(response)["errors"]["non_field_errors"][0]
    assert client.post(url, {"when": "now"}, format="json").status_code == 400


@pytest.mark.django_db
def test_another_teams_deployments_releases_and_schedules_are_404_on_every_route(  # type: ignore[no-untyped-def]
    api, alice, charlie, theirs
) -> None:
    deployment = services.request_deployment(charlie, theirs)
    release = finished(deployment)
    schedule = ScheduledDeployment.objects.create(
        team=theirs.project.team, environment=theirs, run_at="2099-01-01T00:00:00Z"
    )
    client = api(alice, "read", "deploy", "write", "admin")
    for method, path in [
        ("get", f"/api/v1/deployments/{deployment.pk}/"),
        ("get", f"/api/v1/deployments/{deployment.pk}/log/"),
        ("post", f"/api/v1/deployments/{deployment.pk}/cancel/"),
        ("post", f"/api/v1/deployments/{deployment.pk}/redeploy/"),
        ("get", f"/api/v1/releases/{release.pk}/"),
        ("post", f"/api/v1/releases/{release.pk}/rollback/"),
        ("get", f"/api/v1/schedules/{schedule.pk}/"),
        ("patch", f"/api/v1/schedules/{schedule.pk}/"),
        ("post", f"/api/v1/schedules/{schedule.pk}/cancel/"),
    ]:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 404, path
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    for path in ("/api/v1/deployments/", "/api/v1/releases/", "/api/v1/schedules/"):
        assert client.get(path).json()["count"] == 0, path
    response = client.post(
        "/api/v1/schedules/", {"environment": theirs.pk, "local_run_at": "2099-01-01T10:00"},
        format="json",
    )  # fmt: skip
    assert "environment" in problem_of(response)["errors"]
    assert Deployment.objects.count() == 1 and ScheduledDeployment.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.status == ScheduleStatus.PENDING


# Schedules ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_deployer_schedules_changes_and_cancels_a_deployment(api, bob, production) -> None:  # type: ignore[no-untyped-def]
    client = api(bob, "read", "deploy")
    response = client.post(
        "/api/v1/schedules/",
        {"environment": production.pk, "local_run_at": "2099-07-01T21:30",
         "timezone": "Europe/Paris", "note": "maintenance window"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["run_at"] == "2099-07-01T19:30:00Z" and body["local_run_at"] == "2099-07-01T21:30"
    assert body["status"] == "pending" and body["created_by"] == "bob"
    schedule = ScheduledDeployment.objects.get()
    assert ActivityLog.objects.get(action="deployment.scheduled").source == ActivitySource.API

    response = client.patch(f"/api/v1/schedules/{schedule.pk}/", {"note": "later"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["note"] == "later" and response.json()["timezone"] == "Europe/Paris"
    assert response.json()["local_run_at"] == "2099-07-01T21:30"
    response = client.patch(
        f"/api/v1/schedules/{schedule.pk}/", {"local_run_at": "2099-07-02T08:00"}, format="json"
    )
    assert response.json()["run_at"] == "2099-07-02T06:00:00Z"
    assert response.json()["note"] == "later"
    listing = client.get(f"/api/v1/schedules/?environment={production.pk}&status=pending").json()
    assert [s["id"] for s in listing["results"]] == [schedule.pk]

    response = client.post(f"/api/v1/schedules/{schedule.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/schedules/{schedule.pk}/cancel/")
    assert "already started or was cancelled" in problem_of(again)["errors"]["non_field_errors"][0]


@pytest.mark.django_db
def test_bad_schedules_are_refused(api, alice, viewer, production) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    base = {"environment": production.pk, "local_run_at": "2099-03-28T21:30"}
    for changes, field in [
        ({"local_run_at": "2099-03-28T21:30+02:00"}, "local_run_at"),
        ({"local_run_at": "tomorrow"}, "local_run_at"),
        ({"timezone": "Mars/Olympus"}, "non_field_errors"),
        ({"local_run_at": "2001-01-01T00:00"}, "non_field_errors"),
        ({"local_run_at": "2099-03-29T02:30", "timezone": "Europe/Paris"}, "non_field_errors"),
        ({"remind_minutes_before": -1}, "remind_minutes_before"),
        ({"environment": 999999}, "environment"),
    ]:
        response = client.post("/api/v1/schedules/", {**base, **changes}, format="json")
        assert response.status_code == 400, changes
        assert field in problem_of(response)["errors"], response.json()
    response = api(viewer, "read", "deploy").post("/api/v1/schedules/", base, format="json")
    assert response.status_code == 403
    response = api(alice, "read", "write").post("/api/v1/schedules/", base, format="json")
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    assert not ScheduledDeployment.objects.exists()
