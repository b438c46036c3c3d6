"""Project pages through the Django test client: create, settings, environments, variables."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devflow.accounts.models import Membership
from devflow.core.models import ActivityLog, Job, JobStatus
from devflow.deployments import services as deploy_services
from devflow.deployments.models import Deployment
from devflow.projects import services
from devflow.projects.models import Environment, Project, ProjectTemplate, Variable
from tests.deployments.conftest import post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_queue")]

SECRET = "s3cret-Value-that-must-never-show"


@pytest.fixture
def shop(alice, acme, web1) -> Project:  # type: ignore[no-untyped-def]
    return services.create_project(
        alice,
        acme,
        services.ProjectData(
            name="Shop", repository_url="https://git.example.com/acme/shop.git", template="laravel"
        ),
        services.EnvironmentData(servers=[web1], deploy_path="/var/www/shop"),
    )


def settings_data(project: Project, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": project.name,
        "repository_url": project.repository_url,
        "deploy_key": "",
        "build_commands": "",
        "deploy_commands": "",
        "post_deploy_commands": "",
        "smoke_command": "",
        "shared_paths": "",
        "health_check_path": "",
        "keep_releases": 5,
        "deploy_timeout_seconds": 900,
        "command_timeout_seconds": 600,
        "health_check_retries": 5,
    }
    data.update(changes)
    return data


def test_the_empty_list_offers_to_create_a_project(alice_client):
    page = alice_client.get("/projects/").content.decode()
    assert "No projects yet" in page and 'href="/projects/new/"' in page


def test_the_sidebar_links_to_the_project_and_deployment_pages(alice_client):
    page = alice_client.get("/").content.decode()
    assert 'href="/projects/"' in page and 'href="/deployments/"' in page
    assert "not available in this version" not in alice_client.get("/projects/").content.decode()


def test_creating_a_project_from_a_template_prefills_its_pipeline(alice_client, acme, web1, alice):
    services.save_as_template(
        alice,
        services.create_project(
            alice,
            acme,
            services.ProjectData(name="Old", repository_url="/srv/git/old.git", template="static"),
            services.EnvironmentData(servers=[web1], deploy_path="/srv/old"),
        ),
        "Our static sites",
        "Static files with our smoke check",
    )
    form = alice_client.get("/projects/new/").content.decode()
    assert "Laravel" in form and "Composer install, migrations" in form
    assert "Our static sites" in form and "Static files with our smoke check" in form
    assert "web-1" in form
    assert 'placeholder="http://127.0.0.1/"' in form  # the custom template has no path yet

    response = post(
        alice_client,
        "/projects/new/",
        {
            "template": "laravel",
            "name": "Shop",
            "repository_url": "git@github.com:acme/shop.git",
            "deploy_key": "",
            "environment": "production",
            "branch": "main",
            "servers": [web1.pk],
            "deploy_path": "/var/www/shop",
            "health_check_url": "http://127.0.0.1/up",
        },
    )
    project = Project.objects.get(name="Shop")
    assert response.redirect_chain[-1][0] == f"/projects/{project.pk}/"
    page = response.content.decode()
    assert "Created Shop." in page and "Laravel" in page and "production" in page
    assert {"run": "php artisan migrate --force", "once": True} in project.deploy_commands
    environment = project.environments.get()
    assert (environment.branch, environment.deploy_path) == ("main", "/var/www/shop")
    assert list(environment.servers.all()) == [web1]

    settings_page = alice_client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert "once: php artisan migrate --force" in settings_page
    assert "composer install --no-dev" in settings_page
    assert ActivityLog.objects.filter(action="project.created").exists()


def test_new_project_errors_are_shown_next_to_their_fields(alice_client, web1):
    response = post(
        alice_client,
        "/projects/new/",
        {
            "template": "static",
            "name": "Bad",
            "repository_url": "ext::sh -c touch% /tmp/pwned",
            "environment": "production",
            "branch": "-delete",
            "servers": [],
            "deploy_path": "/etc",
        },
    )
    page = response.content.decode()
    assert "Remote helper URLs such as ext:: are refused" in page
    assert "is not a valid branch name" in page
    assert "Pick at least one server to deploy to." in page
    assert "/etc is a system directory" in page
    assert not Project.objects.exists()


def test_a_duplicate_name_is_refused_by_the_service_as_a_form_error(alice_client, shop, web1):
    response = post(
        alice_client,
        "/projects/new/",
        {
            "template": "static",
            "name": "SHOP",
            "repository_url": "https://git.example.com/acme/other.git",
            "environment": "production",
            "branch": "main",
            "servers": [web1.pk],
            "deploy_path": "/var/www/other",
        },
    )
    assert "There is already a project named &#x27;SHOP&#x27;" in response.content.decode()
    assert Project.objects.count() == 1


def test_the_list_shows_framework_environments_and_last_deployment(alice_client, shop, alice):
    page = alice_client.get("/projects/").content.decode()
    assert "Shop" in page and "Laravel" in page and "Never deployed" in page
    deployment = deploy_services.request_deployment(alice, shop.environments.get())
    page = alice_client.get("/projects/").content.decode()
    assert f'href="/deployments/{deployment.pk}/"' in page and "Queued" in page


def test_list_pages_do_not_query_per_project(alice_client, alice, acme, web1):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/projects/").status_code == 200
        return len(captured)

    def add(n: int) -> None:
        project = services.create_project(
            alice,
            acme,
            services.ProjectData(name=f"p{n}", repository_url="/srv/git/p.git"),
            services.EnvironmentData(servers=[web1], deploy_path=f"/srv/p{n}"),
        )
        deploy_services.request_deployment(alice, project.environments.get())

    add(0)
    few = count()
    for n in range(1, 6):
        add(n)
    assert count() == few


def test_settings_round_trip_of_commands_with_once(alice_client, shop):
    response = post(
        alice_client,
        f"/projects/{shop.pk}/settings/",
        settings_data(
            shop,
            build_commands="npm ci\n# a comment\nnpm run build",
            deploy_commands="once: ./manage migrate\n./manage warm-cache",
            post_deploy_commands="sudo systemctl reload php-fpm",
            smoke_command="test -f public/index.php",
            shared_paths="storage\npublic/uploads",
            health_check_path="/up",
            keep_releases=3,
        ),
    )
    assert "Saved the settings of Shop." in response.content.decode()
    shop.refresh_from_db()
    assert shop.build_commands == [
        {"run": "npm ci", "once": False},
        {"run": "npm run build", "once": False},
    ]
    assert shop.deploy_commands == [
        {"run": "./manage migrate", "once": True},
        {"run": "./manage warm-cache", "once": False},
    ]
    assert shop.shared_paths == ["storage", "public/uploads"]
    assert shop.keep_releases == 3
    page = alice_client.get(f"/projects/{shop.pk}/settings/").content.decode()
    assert "once: ./manage migrate\n./manage warm-cache</textarea>" in page
    assert "storage\npublic/uploads</textarea>" in page


def test_settings_errors_keep_the_project_unchanged(alice_client, shop):
    response = post(
        alice_client,
        f"/projects/{shop.pk}/settings/",
        settings_data(shop, deploy_commands="once:", shared_paths="../etc", keep_releases=0),
    )
    page = response.content.decode()
    assert "Line 1: &#x27;once:&#x27; needs a command after it." in page
    assert "may not contain" in page or "use a relative path" in page
    assert "Ensure this value is greater than or equal to 1." in page
    shop.refresh_from_db()
    assert shop.keep_releases == 5


def test_environments_are_added_edited_and_deleted(alice_client, shop, production, web1):
    response = post(
        alice_client,
        f"/projects/{shop.pk}/environments/add/",
        {
            "environment": "staging",
            "branch": "develop",
            "servers": [web1.pk],
            "deploy_path": "/var/www/shop-staging",
        },
    )
    staging = shop.environments.get(name="staging")
    assert "Added the staging environment of Shop." in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/projects/{shop.pk}/?env=staging"
    clash = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{staging.pk}/edit/",
        {
            "environment": "production",
            "branch": "develop",
            "servers": [web1.pk],
            "deploy_path": "/var/www/shop-staging",
        },
    )
    assert "already has an environment named &#x27;production&#x27;" in clash.content.decode()
    post(
        alice_client,
        f"/projects/{shop.pk}/environments/{staging.pk}/edit/",
        {
            "environment": "staging",
            "branch": "release/2.0",
            "servers": [web1.pk],
            "deploy_path": "/var/www/shop-staging",
        },
    )
    staging.refresh_from_db()
    assert staging.branch == "release/2.0"
    post(alice_client, f"/projects/{shop.pk}/environments/{staging.pk}/delete/")
    assert list(shop.environments.values_list("name", flat=True)) == ["production"]
    last = post(alice_client, f"/projects/{shop.pk}/environments/{production.pk}/delete/")
    assert "A project keeps at least one environment." in last.content.decode()


def test_save_as_template_offers_it_for_new_projects(alice_client, shop):
    response = post(
        alice_client,
        f"/projects/{shop.pk}/save-template/",
        {"template-name": "Our Laravel", "template-description": "With our queue restart"},
    )
    assert "Saved the template Our Laravel" in response.content.decode()
    template = ProjectTemplate.objects.get(name="Our Laravel")
    assert template.deploy_commands == shop.deploy_commands
    again = post(
        alice_client, f"/projects/{shop.pk}/save-template/", {"template-name": "our laravel"}
    )
    assert "already a template named" in again.content.decode()
    assert "With our queue restart" in alice_client.get("/projects/new/").content.decode()


def test_variables_are_masked_on_every_page(alice_client, shop, production, alice):
    response = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
        {"set": "1", "var-key": "DB_PASSWORD", "var-value": SECRET},
    )
    assert "Saved DB_PASSWORD for production." in response.content.decode()
    assert Variable.objects.get(key="DB_PASSWORD").value == SECRET
    deployment = deploy_services.request_deployment(alice, production)
    refused = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
        {"set": "1", "var-key": "9LIVES", "var-value": SECRET + "-again"},
    )
    assert "is not a valid variable name" in refused.content.decode()
    assert SECRET not in refused.content.decode()  # not even back in the textarea
    for path in (
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
        f"/projects/{shop.pk}/",
        f"/projects/{shop.pk}/settings/",
        f"/deployments/{deployment.pk}/",
        "/deployments/",
        "/activity/",
    ):
        page = alice_client.get(path).content.decode()
        assert SECRET not in page, path
    variables_page = alice_client.get(
        f"/projects/{shop.pk}/environments/{production.pk}/variables/"
    ).content.decode()
    assert "DB_PASSWORD" in variables_page and "••••••••" in variables_page
    snapshot = alice_client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "<code>DB_PASSWORD</code>" in snapshot


def test_pasting_a_env_with_a_malformed_line_names_it_and_saves_nothing(
    alice_client, shop, production
):
    text = "APP_ENV=production\nthis line is wrong\nAPP_DEBUG=false\n"
    response = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
        {"import": "1", "env-text": text},
    )
    page = response.content.decode()
    assert "Nothing was saved: line 2" in page
    assert "APP_ENV=production\nthis line is wrong\nAPP_DEBUG=false\n</textarea>" in page
    assert not Variable.objects.exists()

    services.set_variable(None, production, "OLD", "1")
    ok = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
        {"import": "1", "env-text": "APP_ENV=production\nAPP_DEBUG=false\n", "env-replace": "on"},
    )
    assert "Saved 2 variable(s) for production." in ok.content.decode()
    assert set(Variable.objects.values_list("key", flat=True)) == {"APP_ENV", "APP_DEBUG"}


def test_deleting_a_variable_asks_first(alice_client, shop, production):
    services.set_variable(None, production, "API_TOKEN", SECRET)
    page = alice_client.get(
        f"/projects/{shop.pk}/environments/{production.pk}/variables/"
    ).content.decode()
    assert 'data-confirm="Delete API_TOKEN from production?' in page
    response = post(
        alice_client,
        f"/projects/{shop.pk}/environments/{production.pk}/variables/delete/",
        {"key": "API_TOKEN"},
    )
    assert "Deleted API_TOKEN from production." in response.content.decode()
    assert not Variable.objects.exists()


def test_viewers_see_variable_names_only_and_cannot_change_them(
    client, bob, shop, production, alice
):
    Membership.objects.filter(user=bob).update(role="viewer")
    services.set_variable(alice, production, "API_TOKEN", SECRET)
    client.force_login(bob)
    path = f"/projects/{shop.pk}/environments/{production.pk}/variables/"
    page = client.get(path).content.decode()
    assert "API_TOKEN" in page and SECRET not in page
    assert "Add or replace a variable" not in page and "Paste a .env" not in page
    assert client.post(path, {"set": "1", "var-key": "X", "var-value": "1"}).status_code == 403
    assert client.post(f"{path}delete/", {"key": "API_TOKEN"}).status_code == 403
    detail = client.get(f"/projects/{shop.pk}/").content.decode()
    assert f'href="/projects/{shop.pk}/settings/"' not in detail and "Deploy main" not in detail


def test_a_deployer_deploys_but_gets_403_on_settings(bob_client, shop, production, web1):
    detail = bob_client.get(f"/projects/{shop.pk}/").content.decode()
    assert "Deploy main" in detail and f'href="/projects/{shop.pk}/settings/"' not in detail
    assert bob_client.get(f"/projects/{shop.pk}/settings/").status_code == 403
    assert bob_client.post(f"/projects/{shop.pk}/settings/", settings_data(shop)).status_code == 403
    assert bob_client.get(f"/projects/{shop.pk}/environments/add/").status_code == 403
    assert bob_client.post(f"/projects/{shop.pk}/delete/").status_code == 403
    assert bob_client.get("/projects/new/").status_code == 403
    response = post(
        bob_client, f"/deployments/environments/{production.pk}/deploy/", {"if_busy": "wait"}
    )
    deployment = Deployment.objects.get()
    assert response.redirect_chain[-1][0] == f"/deployments/{deployment.pk}/"
    assert deployment.actor is not None and deployment.actor.username == "bob"


def test_another_teams_project_pages_are_404(client, charlie, shop, production):
    client.force_login(charlie)
    for path in (
        f"/projects/{shop.pk}/",
        f"/projects/{shop.pk}/settings/",
        f"/projects/{shop.pk}/environments/add/",
        f"/projects/{shop.pk}/environments/{production.pk}/edit/",
        f"/projects/{shop.pk}/environments/{production.pk}/variables/",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/projects/{shop.pk}/delete/",
        f"/projects/{shop.pk}/save-template/",
        f"/projects/{shop.pk}/environments/{production.pk}/variables/delete/",
        f"/projects/{shop.pk}/environments/{production.pk}/refresh-commits/",
    ):
        assert client.post(path).status_code == 404, path
    assert "Shop" not in client.get("/projects/").content.decode()
    assert Project.objects.filter(pk=shop.pk).exists()


def test_refresh_queues_a_job_and_shows_commits_and_errors(alice_client, shop, production):
    response = post(
        alice_client, f"/projects/{shop.pk}/environments/{production.pk}/refresh-commits/"
    )
    job = Job.objects.get(kind="projects.refresh_commits")
    assert job.params == {"environment_id": production.pk}
    page = response.content.decode()
    assert f"Fetching the latest commits of main (job #{job.pk})." in page
    assert "Fetching the branch…" in page and 'hx-trigger="every 2s"' in page
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    Environment.objects.filter(pk=production.pk).update(
        commits=[
            {
                "sha": "b" * 40,
                "author": "Dana",
                "at": "2026-01-02T10:00:00+00:00",
                "message": "Two",
            },
            {
                "sha": "a" * 40,
                "author": "Dana",
                "at": "2026-01-01T10:00:00+00:00",
                "message": "One",
            },
        ],
        behind_count=1,
        commits_error="the repository's host name does not resolve",
    )
    deployment = Deployment.objects.create(
        team=shop.team, project=shop, environment=production, trigger="manual", branch="main",
        commit_sha="a" * 40,
    )  # fmt: skip
    production.releases.create(
        deployment=deployment, name="r1", commit_sha="a" * 40, status="active"
    )
    page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert "1 commit behind" in page and "bbbbbbbb" in page and "Two" in page
    assert "the repository&#x27;s host name does not resolve" in page
    assert 'hx-trigger="every 2s"' not in page


def test_deleting_a_project_is_for_owners_and_waits_for_deployments(
    alice_client, bob_client, bob, shop, production, alice
):
    Membership.objects.filter(user=bob).update(role="maintainer")
    page = bob_client.get(f"/projects/{shop.pk}/settings/").content.decode()
    assert "Save settings" in page and "Delete project" not in page
    assert bob_client.post(f"/projects/{shop.pk}/delete/").status_code == 403
    running = deploy_services.request_deployment(alice, production)
    settings_page = alice_client.get(f"/projects/{shop.pk}/settings/").content.decode()
    assert 'data-confirm="Delete the project Shop' in settings_page
    refused = post(alice_client, f"/projects/{shop.pk}/delete/")
    assert "queued or running; cancel it first" in refused.content.decode()
    assert running.job is not None
    Job.objects.filter(pk=running.job.pk).update(status=JobStatus.SUCCEEDED)
    done = post(alice_client, f"/projects/{shop.pk}/delete/")
    assert "Deleted the project Shop." in done.content.decode()
    assert not Project.objects.exists()


def test_opening_the_project_page_refreshes_stale_commits_once(alice_client, shop) -> None:  # type: ignore[no-untyped-def]
    page = f"/projects/{shop.pk}/"
    assert alice_client.get(page).status_code == 200
    assert alice_client.get(page).status_code == 200
    refreshes = Job.objects.filter(kind="projects.refresh_commits")
    assert refreshes.count() == 1  # the second view finds it in flight
    refreshes.update(status=JobStatus.SUCCEEDED)
    assert alice_client.get(page).status_code == 200
    assert refreshes.count() == 1  # one ran a moment ago: not again for a few minutes
