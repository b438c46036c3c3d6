"""The API of projects, environments and variables: the pages' rules, through tokens."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.accounts.services import create_user
from devflow.core.models import ActivityLog, ActivitySource, Job
from devflow.projects import services
from devflow.projects.models import Environment, Project, Variable
from devflow.servers.models import Server
from tests.api.conftest import problem_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def web1(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def shop(alice, acme, web1) -> Project:  # type: ignore[no-untyped-def]
    return services.create_project(
        alice, acme,
        services.ProjectData(name="Shop", repository_url="https://git.example.com/acme/shop.git",
                             template="laravel"),
        services.EnvironmentData(servers=[web1], deploy_path="/var/www/shop"),
    )  # fmt: skip


@pytest.fixture
def production(shop) -> Environment:  # type: ignore[no-untyped-def]
    return shop.environments.get()


@pytest.fixture
def theirs(charlie, globex) -> Project:  # type: ignore[no-untyped-def]
    server = Server.objects.create(team=globex, name="g-1", host="10.0.9.1")
    return services.create_project(
        charlie, globex,
        services.ProjectData(name="Globex", repository_url="https://git.example.com/g.git"),
        services.EnvironmentData(servers=[server], deploy_path="/var/www/globex"),
    )  # fmt: skip


@pytest.fixture
def viewer(acme) -> User:  # type: ignore[no-untyped-def]
    """Dave only looks, in Acme."""
    user = create_user(username="dave", email="dave@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    return user


def new_project_body(acme, web1, **changes):  # type: ignore[no-untyped-def]
    body = {
        "team": acme.pk, "name": "Blog", "repository_url": "https://git.example.com/acme/blog.git",
        "template": "static",
        "environment": {"name": "production", "servers": [web1.pk], "deploy_path": "/var/www/blog"},
    }  # fmt: skip
    body.update(changes)
    return body


# Projects ---------------------------------------------------------------------------------


def test_a_token_lists_searches_and_orders_only_its_teams_projects(  # type: ignore[no-untyped-def]
    api, alice, acme, web1, shop, theirs
) -> None:
    services.create_project(
        alice, acme,
        services.ProjectData(name="Admin", repository_url="https://git.example.com/acme/a.git"),
        services.EnvironmentData(servers=[web1], deploy_path="/var/www/admin"),
    )  # fmt: skip
    client = api(alice, "read")
    body = client.get("/api/v1/projects/").json()
    assert [p["name"] for p in body["results"]] == ["Admin", "Shop"]
    shop_row = body["results"][1]
    assert shop_row["environments"] == [{"id": shop.environments.get().pk, "name": "production",
                                         "branch": "main"}]  # fmt: skip
    assert shop_row["template"] == "laravel" and shop_row["build_commands"][0]["run"]
    names = [p["name"] for p in client.get("/api/v1/projects/?ordering=-name").json()["results"]]
    assert names == ["Shop", "Admin"]
    assert [p["name"] for p in client.get("/api/v1/projects/?search=sho").json()["results"]] == [
        "Shop"
    ]
    assert client.get(f"/api/v1/projects/?team={theirs.team_id}").json()["count"] == 0


def test_the_project_list_costs_the_same_queries_for_1_and_20(  # type: ignore[no-untyped-def]
    api, alice, acme, web1, shop
) -> None:
    client = api(alice, "read")
    client.get("/api/v1/me/")  # the token's first use is noted once, not on every call

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/projects/").status_code == 200
        return len(captured)

    one = queries()
    for number in range(19):
        services.create_project(
            alice, acme,
            services.ProjectData(name=f"P{number}", repository_url="https://git.example.com/p.git"),
            services.EnvironmentData(servers=[web1], deploy_path=f"/var/www/p{number}"),
        )  # fmt: skip
    assert client.get("/api/v1/projects/").json()["count"] == 20
    assert queries() == one


def test_creating_a_project_calls_the_service_with_its_first_environment(  # type: ignore[no-untyped-def]
    api, alice, acme, web1
) -> None:
    response = api(alice, "read", "write").post(
        "/api/v1/projects/", new_project_body(acme, web1), format="json"
    )
    assert response.status_code == 201, response.json()
    project = Project.objects.get(name="Blog")
    assert response.json()["id"] == project.pk and project.template == "static"
    environment = project.environments.get()
    assert list(environment.servers.all()) == [web1]
    assert environment.deploy_path == "/var/www/blog"
    row = ActivityLog.objects.get(action="project.created")
    assert row.source == ActivitySource.API and row.actor == alice


def test_bad_project_input_is_a_problem_and_creates_nothing(  # type: ignore[no-untyped-def]
    api, alice, acme, web1, theirs
) -> None:
    client = api(alice, "read", "write")
    for body, field in [
        (new_project_body(acme, web1, colour="red"), "colour"),
        (new_project_body(acme, web1, name=["Blog"]), "name"),
        (new_project_body(acme, web1, environment={"servers": [web1.pk]}), "environment"),
        (new_project_body(acme, web1, team=theirs.team_id), "team"),
    ]:
        response = client.post("/api/v1/projects/", body, format="json")
        assert response.status_code == 400, body
        assert field in problem_of(response)["errors"], response.json()
    their_server = Server.objects.get(team=theirs.team)
    environment = {"servers": [their_server.pk], "deploy_path": "/var/www/x"}
    response = client.post(
        "/api/v1/projects/", new_project_body(acme, web1, environment=environment), format="json"
    )
    assert "servers" in problem_of(response)["errors"]["environment"]
    response = client.post(
        "/api/v1/projects/",
        new_project_body(acme, web1, repository_url="ext::sh -c touch% /tmp/pwned"),
        format="json",
    )
    assert "ext:: are refused" in problem_of(response)["errors"]["non_field_errors"][0]
    assert not Project.objects.filter(team=acme).exists()


def test_a_deployer_and_a_viewer_cannot_create_change_or_delete_projects(  # type: ignore[no-untyped-def]
    api, bob, viewer, acme, web1, shop
) -> None:
    for user in (bob, viewer):
        client = api(user, "read", "write", "admin")
        response = client.post("/api/v1/projects/", new_project_body(acme, web1), format="json")
        assert response.status_code == 403
        response = client.patch(f"/api/v1/projects/{shop.pk}/", {"name": "Mine"}, format="json")
        assert problem_of(response)["detail"] == "Your role in this team does not allow this."
        assert client.delete(f"/api/v1/projects/{shop.pk}/").status_code == 403
        assert client.get(f"/api/v1/projects/{shop.pk}/").status_code == 200
    shop.refresh_from_db()
    assert shop.name == "Shop" and Project.objects.count() == 1


def test_updating_a_project_changes_settings_and_pipeline_through_the_service(  # type: ignore[no-untyped-def]
    api, alice, shop
) -> None:
    client = api(alice, "read", "write")
    response = client.patch(
        f"/api/v1/projects/{shop.pk}/",
        {
            "name": "Shop 2",
            "build_commands": [{"run": "npm ci"}, {"run": "php artisan migrate", "once": True}],
            "shared_paths": ["storage", "public/uploads"],
            "keep_releases": 3,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    shop.refresh_from_db()
    assert shop.name == "Shop 2" and shop.keep_releases == 3
    assert shop.build_commands == [
        {"run": "npm ci", "once": False}, {"run": "php artisan migrate", "once": True},
    ]  # fmt: skip
    assert shop.shared_paths == ["storage", "public/uploads"]
    assert response.json()["build_commands"][1] == {"run": "php artisan migrate", "once": True}

    for body in (
        {"keep_releases": 99},
        {"shared_paths": ["../etc"]},
        {"build_commands": [{"run": "a\nb"}]},
        {"build_commands": [{"run": "ls", "sudo": True}]},
        {"team": shop.team_id + 1},
    ):
        response = client.patch(f"/api/v1/projects/{shop.pk}/", body, format="json")
        assert response.status_code == 400, body
        problem_of(response)
    shop.refresh_from_db()
    assert shop.keep_releases == 3 and shop.shared_paths == ["storage", "public/uploads"]


def test_deleting_a_project_needs_the_owner_and_the_admin_scope(api, alice, shop) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").delete(f"/api/v1/projects/{shop.pk}/")
    assert response.status_code == 403
    assert "lacks the “admin” scope" in problem_of(response)["detail"]
    assert api(alice, "admin").delete(f"/api/v1/projects/{shop.pk}/").status_code == 204
    assert not Project.objects.exists()


def test_another_teams_project_environment_and_variables_are_404_on_every_route(  # type: ignore[no-untyped-def]
    api, alice, theirs
) -> None:
    environment = theirs.environments.get()
    services.set_variable(None, environment, "SECRET", "globex-only")
    client = api(alice, "read", "write", "deploy", "admin", "read:secrets")
    project_url = f"/api/v1/projects/{theirs.pk}/"
    env_url = f"/api/v1/environments/{environment.pk}/"
    for response in (
        client.get(project_url),
        client.patch(project_url, {"name": "mine"}, format="json"),
        client.put(project_url, {"name": "mine"}, format="json"),
        client.delete(project_url),
        client.get(env_url),
        client.patch(env_url, {"branch": "dev"}, format="json"),
        client.delete(env_url),
        client.get(f"{env_url}variables/"),
        client.post(f"{env_url}variables/", {"key": "A", "value": "b"}, format="json"),
        client.put(f"{env_url}variables/", {"key": "A", "value": "b"}, format="json"),
        client.delete(f"{env_url}variables/SECRET/"),
        client.post(f"{env_url}deploy/", {}, format="json"),
        client.post(f"{env_url}refresh-commits/"),
    ):
        assert response.status_code == 404, response.request
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    response = client.post(
        "/api/v1/environments/",
        {"project": theirs.pk, "name": "staging", "servers": [], "deploy_path": "/var/www/s"},
        format="json",
    )
    assert "project" in problem_of(response)["errors"]
    theirs.refresh_from_db()
    assert theirs.name == "Globex" and Variable.objects.get().value == "globex-only"
    assert list(Environment.objects.filter(project=theirs)) == [environment]
    assert not Job.objects.exists()


# Environments -------------------------------------------------------------------------------


def test_environments_are_added_changed_and_deleted_through_the_service(  # type: ignore[no-untyped-def]
    api, alice, acme, shop, production, web1
) -> None:
    web2 = Server.objects.create(team=acme, name="web-2", host="10.0.0.6")
    client = api(alice, "read", "write")
    response = client.post(
        "/api/v1/environments/",
        {"project": shop.pk, "name": "Staging", "branch": "develop", "servers": [web2.pk],
         "deploy_path": "/var/www/shop-staging/"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    staging = Environment.objects.get(pk=response.json()["id"])
    assert staging.name == "staging" and staging.deploy_path == "/var/www/shop-staging"
    listing = client.get(f"/api/v1/environments/?project={shop.pk}").json()
    assert [e["name"] for e in listing["results"]] == ["production", "staging"]

    response = client.patch(
        f"/api/v1/environments/{staging.pk}/", {"servers": [web1.pk, web2.pk]}, format="json"
    )
    assert response.status_code == 200
    assert sorted(response.json()["servers"]) == sorted([web1.pk, web2.pk])
    assert staging.branch == Environment.objects.get(pk=staging.pk).branch == "develop"
    response = client.patch(
        f"/api/v1/environments/{staging.pk}/", {"name": "production"}, format="json"
    )
    assert (
        "already has an environment named" in problem_of(response)["errors"]["non_field_errors"][0]
    )
    response = client.patch(f"/api/v1/environments/{staging.pk}/", {"servers": []}, format="json")
    assert "at least one server" in str(problem_of(response)["errors"])

    assert client.delete(f"/api/v1/environments/{staging.pk}/").status_code == 204
    response = client.delete(f"/api/v1/environments/{production.pk}/")
    assert "at least one environment" in problem_of(response)["errors"]["non_field_errors"][0]
    assert list(shop.environments.all()) == [production]


def test_a_deployer_cannot_add_or_change_environments(api, bob, shop, production, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(bob, "read", "write")
    response = client.post(
        "/api/v1/environments/",
        {"project": shop.pk, "name": "staging", "servers": [web1.pk], "deploy_path": "/var/www/s"},
        format="json",
    )
    assert response.status_code == 403
    response = client.patch(f"/api/v1/environments/{production.pk}/", {"branch": "x"},
                            format="json")  # fmt: skip
    assert response.status_code == 403
    assert client.delete(f"/api/v1/environments/{production.pk}/").status_code == 403
    assert Environment.objects.count() == 1
    production.refresh_from_db()
    assert production.branch == "main"


# Variables ----------------------------------------------------------------------------------


def test_variable_values_are_hidden_without_read_secrets_and_shown_with_it(  # type: ignore[no-untyped-def]
    api, alice, production
) -> None:
    url = f"/api/v1/environments/{production.pk}/variables/"
    response = api(alice, "read", "write").post(
        url, {"key": "DB_PASSWORD", "value": "s3cr3t value "}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["key"] == "DB_PASSWORD" and response.json()["value"] is None
    assert Variable.objects.get().value == "s3cr3t value "
    response = api(alice, "read").get(url)
    assert "s3cr3t" not in response.content.decode()
    [row] = response.json()["results"]
    assert row["value"] is None and row["is_secret"] is True
    [row] = api(alice, "read", "read:secrets").get(url).json()["results"]
    assert row["value"] == "s3cr3t value " and row["is_secret"] is True
    session = Client()
    session.force_login(alice)
    assert session.get(url).json()["results"][0]["value"] == "s3cr3t value "
    row = ActivityLog.objects.get(action="variable.created")
    assert row.source == ActivitySource.API and "s3cr3t" not in str(row.details)


def test_put_replaces_a_variable_and_delete_removes_it(api, alice, production) -> None:  # type: ignore[no-untyped-def]
    services.set_variable(alice, production, "APP_ENV", "staging")
    client = api(alice, "read", "write", "read:secrets")
    url = f"/api/v1/environments/{production.pk}/variables/"
    response = client.put(url, {"key": "APP_ENV", "value": "production"}, format="json")
    assert response.json()["value"] == "production"
    assert services.variables_of(production) == {"APP_ENV": "production"}
    for body in ({"key": "1BAD", "value": "x"}, {"key": "A", "value": "x", "secret": True},
                 {"key": "A"}):  # fmt: skip
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        problem_of(response)
    services.set_variable(alice, production, "ZED", "z")
    services.set_variable(alice, production, "BETA", "b")
    body = client.get(f"{url}?page_size=2").json()
    assert body["count"] == 3 and [v["key"] for v in body["results"]] == ["APP_ENV", "BETA"]
    assert [v["key"] for v in client.get(body["next"]).json()["results"]] == ["ZED"]
    assert client.delete(f"{url}APP_ENV/").status_code == 204
    assert client.delete(f"{url}APP_ENV/").status_code == 404
    assert sorted(services.variables_of(production)) == ["BETA", "ZED"]


def test_a_deployer_sees_keys_but_neither_values_nor_changes_them(  # type: ignore[no-untyped-def]
    api, alice, bob, production
) -> None:
    services.set_variable(alice, production, "DB_PASSWORD", "s3cr3t")
    client = api(bob, "read", "write", "read:secrets")
    url = f"/api/v1/environments/{production.pk}/variables/"
    [row] = client.get(url).json()["results"]
    assert row["key"] == "DB_PASSWORD" and row["value"] is None
    assert client.post(url, {"key": "X", "value": "y"}, format="json").status_code == 403
    assert client.delete(f"{url}DB_PASSWORD/").status_code == 403
    assert api(alice, "read").post(url, {"key": "X", "value": "y"},
                                   format="json").status_code == 403  # fmt: skip
    assert services.variables_of(production) == {"DB_PASSWORD": "s3cr3t"}


def test_refreshing_commits_queues_a_job_for_a_deployer(api, bob, production) -> None:  # type: ignore[no-untyped-def]
    response = api(bob, "read", "deploy").post(
        f"/api/v1/environments/{production.pk}/refresh-commits/"
    )
    assert response.status_code == 202
    job = Job.objects.get(kind="projects.refresh_commits")
    assert response.json()["id"] == job.pk and job.trigger == "api"
