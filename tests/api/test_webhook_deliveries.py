"""Webhook deliveries through the API: read only, never the secret; redeliver as the page does."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.accounts.services import create_user
from devflow.deployments.models import Deployment
from devflow.projects import services as project_services
from devflow.projects.models import Project
from devflow.servers.models import Server
from devflow.webhooks import services
from devflow.webhooks.models import Decision, Delivery, WebhookConfig
from tests.api.conftest import problem_of
from tests.conftest import PASSWORD
from tests.webhooks.conftest import signed_headers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_queue")]

SHA = "3f2c9ab8e1d4c5b6a7f8091a2b3c4d5e6f708192"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def no_queue(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


def make_project(team, actor, name: str) -> Project:  # type: ignore[no-untyped-def]
    server = Server.objects.create(team=team, name=f"{name}-1", host="10.0.0.5")
    return project_services.create_project(
        actor, team,
        project_services.ProjectData(name=name, repository_url=f"https://git.example.com/{name}"),
        project_services.EnvironmentData(servers=[server], deploy_path=f"/var/www/{name}"),
    )  # fmt: skip


@pytest.fixture
def config(alice, acme) -> WebhookConfig:  # type: ignore[no-untyped-def]
    return services.config_of(make_project(acme, alice, "shop"))


@pytest.fixture
def their_config(charlie, globex) -> WebhookConfig:  # type: ignore[no-untyped-def]
    return services.config_of(make_project(globex, charlie, "globex"))


@pytest.fixture
def viewer(acme) -> User:  # type: ignore[no-untyped-def]
    """Dave only looks, in Acme."""
    user = create_user(username="dave", email="dave@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    return user


def push(config: WebhookConfig, ref: str = "main", *, secret: str = "") -> Delivery:
    body = json.dumps({"ref": ref, "sha": SHA, "message": "Fix the cart"}).encode()
    headers = signed_headers("custom", secret or config.secret, body)
    return services.receive("custom", config.public_id, headers, body).delivery


def test_deliveries_are_listed_filtered_and_shown_without_the_secret(  # type: ignore[no-untyped-def]
    api, alice, config, their_config
) -> None:
    deployed = push(config)
    forged = push(config, secret="not-the-secret")
    ignored = push(config, ref="develop")
    push(their_config)
    client = api(alice, "read", "read:secrets")
    body = client.get("/api/v1/webhook-deliveries/").json()
    assert [d["id"] for d in body["results"]] == [ignored.pk, forged.pk, deployed.pk]
    for query, expected in [
        (f"project={config.project_id}&decision=rejected", [forged]),
        ("decision=deployed", [deployed]),
        ("ordering=received_at", [deployed, forged, ignored]),
        (f"project={their_config.project_id}", []),
    ]:
        rows = client.get(f"/api/v1/webhook-deliveries/?{query}").json()["results"]
        assert [d["id"] for d in rows] == [d.pk for d in expected], query

    response = client.get(f"/api/v1/webhook-deliveries/{deployed.pk}/")
    detail = response.json()
    assert detail["decision"] == "deployed" and detail["commit_sha"] == SHA
    assert detail["deployments"] == [Deployment.objects.get(project=config.project).pk]
    assert json.loads(detail["payload"])["message"] == "Fix the cart"
    assert detail["payload_truncated"] is False
    assert "X-DevFlow-Signature" not in detail["headers"]
    assert config.secret not in response.content.decode()
    assert config.secret not in client.get("/api/v1/webhook-deliveries/").content.decode()


def test_a_deployer_redelivers_and_a_viewer_cannot(api, bob, viewer, config) -> None:  # type: ignore[no-untyped-def]
    original = push(config)
    url = f"/api/v1/webhook-deliveries/{original.pk}/redeliver/"
    response = api(viewer, "read", "deploy").post(url)
    assert response.status_code == 403
    assert problem_of(response)["detail"] == "Your role in this team does not allow this."
    response = api(bob, "read").post(url)
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    assert Deployment.objects.count() == 1

    client = api(bob, "read", "deploy")
    first = client.post(url, HTTP_IDEMPOTENCY_KEY="again-1")
    replay = client.post(url, HTTP_IDEMPOTENCY_KEY="again-1")
    assert first.status_code == replay.status_code == 202
    again = Delivery.objects.get(redelivery_of=original)
    assert first.json()["id"] == replay.json()["id"] == again.pk
    assert first.json()["decision"] == Decision.DEPLOYED
    assert Deployment.objects.count() == 2


def test_a_forged_delivery_cannot_be_redelivered(api, alice, config) -> None:  # type: ignore[no-untyped-def]
    forged = push(config, secret="not-the-secret")
    response = api(alice, "read", "deploy").post(
        f"/api/v1/webhook-deliveries/{forged.pk}/redeliver/"
    )
    assert response.status_code == 400
    assert "valid signature" in problem_of(response)["errors"]["non_field_errors"][0]
    assert Delivery.objects.count() == 1 and not Deployment.objects.exists()


def test_another_teams_deliveries_are_404_on_every_route(api, alice, their_config) -> None:  # type: ignore[no-untyped-def]
    theirs = push(their_config)
    client = api(alice, "read", "deploy", "write")
    for response in (
        client.get(f"/api/v1/webhook-deliveries/{theirs.pk}/"),
        client.post(f"/api/v1/webhook-deliveries/{theirs.pk}/redeliver/"),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    assert client.get("/api/v1/webhook-deliveries/").json()["count"] == 0
    assert Delivery.objects.count() == 1 and Deployment.objects.count() == 1


def test_deliveries_are_read_only(api, alice, config) -> None:  # type: ignore[no-untyped-def]
    delivery = push(config)
    client = api(alice, "read", "write", "admin")
    assert client.post("/api/v1/webhook-deliveries/", {}, format="json").status_code == 405
    url = f"/api/v1/webhook-deliveries/{delivery.pk}/"
    assert client.patch(url, {"decision": "ignored"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    delivery.refresh_from_db()
    assert delivery.decision == Decision.DEPLOYED
