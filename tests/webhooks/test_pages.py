"""Webhook pages through the Django test client: settings panel, secret shown once, deliveries."""

from __future__ import annotations

import html
import json
import re
import subprocess
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from devflow.core.models import ActivityLog
from devflow.deployments.models import Deployment, DeployTrigger
from devflow.projects import services as project_services
from devflow.projects.models import Project
from devflow.servers.models import Server
from devflow.webhooks import services
from devflow.webhooks.models import Decision, Delivery, WebhookConfig
from devflow.webhooks.providers import RECEIVERS
from tests.deployments import conftest as deployments
from tests.deployments.conftest import post
from tests.webhooks.conftest import payload, signed_headers

# The deployments page tests' fixtures: a server, Bob's client, the project's environment.
web1 = deployments.web1
bob_client = deployments.bob_client
production = deployments.production

pytestmark = pytest.mark.usefixtures("no_queue")

SHA = "3f2c9ab8e1d4c5b6a7f8091a2b3c4d5e6f708192"
PROVIDERS = ["github", "gitlab", "bitbucket", "custom"]


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


@pytest.fixture
def config(shop) -> WebhookConfig:  # type: ignore[no-untyped-def]
    return services.config_of(shop)


@pytest.fixture
def charlie_client(charlie) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(charlie)
    return client


def github_push(sha: str = SHA, ref: str = "refs/heads/main") -> bytes:
    body = payload("github_push.json")
    body["ref"], body["after"] = ref, sha
    body["head_commit"]["id"] = sha
    return json.dumps(body).encode()


def receive(
    config: WebhookConfig,
    body: bytes,
    provider: str = "github",
    *,
    secret: str = "",
    event: str = "",
) -> services.Answer:
    headers = signed_headers(provider, secret or config.secret, body, event)
    return services.receive(provider, config.public_id, headers, body)


def settings_url(project: Project) -> str:
    return f"/projects/{project.pk}/settings/"


def deliveries_url(project: Project, delivery: Delivery | None = None) -> str:
    url = f"/webhooks/projects/{project.pk}/deliveries/"
    return f"{url}{delivery.pk}/" if delivery else url


def settings_data(**overrides: Any) -> dict[str, Any]:
    return {"enabled": "on", "tag_environment": "", "rate_limit_per_minute": "60", **overrides}


def rows_on(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-testid="delivery-(\d+)"', page)]


@pytest.mark.django_db
def test_the_settings_panel_shows_the_four_urls_and_never_the_secret(alice_client, shop) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(settings_url(shop)).content.decode()
    config = WebhookConfig.objects.get(project=shop)
    for provider in PROVIDERS:
        url = f"http://testserver/hooks/{provider}/{config.public_id}"
        assert f'id="hook-url-{provider}" value="{url}" readonly' in page
        assert escape(RECEIVERS[provider].setup) in page
        assert escape(RECEIVERS[provider].label) in page
    assert config.secret not in page
    # Nobody has seen the secret a project was created with.
    assert "No one has seen this project's secret yet." in page
    assert "Regenerate to see a secret you can paste into your provider." in page
    assert (
        'data-confirm="Regenerate the webhook secret? The old secret stops working at once'
    ) in page
    assert "openssl dgst -sha256 -hmac" in page and "X-DevFlow-Signature: sha256=" in page
    assert f'href="{deliveries_url(shop)}"' in page


@pytest.mark.django_db
def test_the_urls_use_the_public_url_when_it_is_set(alice_client, shop, config, settings) -> None:  # type: ignore[no-untyped-def]
    """Behind a TLS proxy the request looks like plain http; providers must post to https."""
    settings.DEVFLOW_PUBLIC_URL = "https://devflow.example.com"
    page = alice_client.get(settings_url(shop)).content.decode()
    assert f'value="https://devflow.example.com/hooks/github/{config.public_id}"' in page
    assert "http://testserver/hooks/" not in page


@pytest.mark.django_db
def test_regenerating_shows_the_new_secret_once_and_the_old_one_stops_working(  # type: ignore[no-untyped-def]
    alice_client, shop, config
) -> None:
    old = config.secret
    response = alice_client.post(f"/webhooks/projects/{shop.pk}/regenerate-secret/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    config.refresh_from_db()
    new = config.secret
    assert new and new != old and config.secret_rotated_at is not None
    page = response.content.decode()
    assert f'value="{new}"' in page and "you will not see it again" in page
    assert f"http://testserver/hooks/github/{config.public_id}" in page
    assert old not in page
    # Kept nowhere that outlives this response: no cookie, no session, no message, no log.
    assert new not in str(response.cookies)
    assert all(new not in str(value) for value in alice_client.session.values())
    activity = ActivityLog.objects.get(action="webhook.secret_regenerated")
    assert activity.actor.username == "alice" and new not in json.dumps(activity.details)

    after = alice_client.get(settings_url(shop)).content.decode()
    assert new not in after
    assert "It was last regenerated" in after
    assert "Regenerate to see a secret you can paste into your provider." in after

    body = github_push(ref="refs/heads/develop")
    answer = receive(config, body, secret=old)
    assert answer.status == 401 and answer.delivery.reason == "signature mismatch"
    answer = receive(config, body, secret=new)
    assert answer.status == 202 and answer.delivery.reason == "branch develop is not main"


@pytest.mark.django_db
def test_a_maintainer_saves_the_webhook_settings(  # type: ignore[no-untyped-def]
    alice_client, acme, shop, config, production, web1
) -> None:
    response = post(
        alice_client,
        f"/webhooks/projects/{shop.pk}/settings/",
        settings_data(enabled="", tag_environment=production.pk, rate_limit_per_minute="30"),
    )
    assert response.redirect_chain[-1][0] == f"{settings_url(shop)}#webhooks"
    assert "Saved the webhook settings of Shop: webhooks are off." in response.content.decode()
    config.refresh_from_db()
    assert not config.enabled and config.tag_environment == production
    assert config.rate_limit_per_minute == 30
    assert ActivityLog.objects.filter(action="webhook.updated").count() == 1
    page = response.content.decode()
    assert f'<option value="{production.pk}" selected>production (branch main)</option>' in page

    response = post(
        alice_client,
        f"/webhooks/projects/{shop.pk}/settings/",
        settings_data(rate_limit_per_minute="0"),
    )
    assert "The webhook settings were not saved. Rate limit per minute: Ensure this value is " \
        "greater than or equal to 1." in html.unescape(response.content.decode())  # fmt: skip
    blog = project_services.create_project(
        None,
        acme,
        project_services.ProjectData(name="Blog", repository_url="https://git.example.com/b.git"),
        project_services.EnvironmentData(servers=[web1], deploy_path="/var/www/blog"),
    )
    other = blog.environments.get()
    response = post(
        alice_client,
        f"/webhooks/projects/{shop.pk}/settings/",
        settings_data(tag_environment=other.pk),
    )
    assert "Deploy tag pushes to: Select a valid choice." in response.content.decode()
    config.refresh_from_db()
    assert config.rate_limit_per_minute == 30 and config.tag_environment == production


@pytest.mark.django_db
def test_a_deployer_sees_the_urls_and_deliveries_and_redelivers_but_changes_nothing(  # type: ignore[no-untyped-def]
    bob_client, shop, config
) -> None:
    secret = config.secret
    response = bob_client.post(f"/webhooks/projects/{shop.pk}/settings/", settings_data(enabled=""))
    assert response.status_code == 403
    assert bob_client.post(f"/webhooks/projects/{shop.pk}/regenerate-secret/").status_code == 403
    config.refresh_from_db()
    assert config.enabled and config.secret == secret

    delivery = receive(config, github_push()).delivery
    assert delivery.decision == Decision.DEPLOYED
    page = bob_client.get(deliveries_url(shop)).content.decode()
    assert rows_on(page) == [delivery.pk]
    for provider in PROVIDERS:
        assert f"http://testserver/hooks/{provider}/{config.public_id}" in page
    assert secret not in page and "Webhook settings" not in page
    assert "a maintainer or owner regenerates it" in page

    detail = bob_client.get(deliveries_url(shop, delivery)).content.decode()
    assert '<button class="btn btn-primary" type="submit" data-busy="Redelivering…">' in detail
    response = post(bob_client, f"{deliveries_url(shop, delivery)}redeliver/")
    again = Delivery.objects.get(redelivery_of=delivery)
    assert response.redirect_chain[-1][0] == deliveries_url(shop, again)
    assert again.decision == Decision.DEPLOYED and Deployment.objects.count() == 2


@pytest.mark.django_db
def test_another_team_gets_404_for_the_webhook_pages(  # type: ignore[no-untyped-def]
    charlie_client, charlie, globex, shop, config
) -> None:
    delivery = receive(config, github_push()).delivery
    for url in [deliveries_url(shop), deliveries_url(shop, delivery)]:
        assert charlie_client.get(url).status_code == 404
    for url in [
        f"{deliveries_url(shop, delivery)}redeliver/",
        f"/webhooks/projects/{shop.pk}/settings/",
        f"/webhooks/projects/{shop.pk}/regenerate-secret/",
    ]:
        assert charlie_client.post(url, settings_data()).status_code == 404
    # Not through one of Charlie's own projects either.
    server = Server.objects.create(team=globex, name="g-1", host="10.0.9.1")
    theirs = project_services.create_project(
        charlie,
        globex,
        project_services.ProjectData(name="Globex", repository_url="https://git.example.com/g.git"),
        project_services.EnvironmentData(servers=[server], deploy_path="/var/www/globex"),
    )
    assert charlie_client.get(deliveries_url(theirs)).status_code == 200
    assert charlie_client.get(deliveries_url(theirs, delivery)).status_code == 404
    response = charlie_client.post(f"{deliveries_url(theirs, delivery)}redeliver/")
    assert response.status_code == 404
    assert Deployment.objects.count() == 1 and Delivery.objects.count() == 1


@pytest.mark.django_db
def test_the_deliveries_list_filters_by_provider_and_decision(alice_client, shop, config) -> None:  # type: ignore[no-untyped-def]
    deployed = receive(config, github_push()).delivery
    forged = receive(config, github_push(), "gitlab", secret="not-the-secret").delivery
    ignored = receive(config, github_push(ref="refs/heads/develop")).delivery
    malformed = receive(config, b"not json", "custom").delivery
    assert [d.decision for d in (deployed, forged, ignored, malformed)] == [
        Decision.DEPLOYED, Decision.REJECTED, Decision.IGNORED, Decision.REJECTED,
    ]  # fmt: skip

    page = alice_client.get(deliveries_url(shop)).content.decode()
    assert rows_on(page) == [malformed.pk, ignored.pk, forged.pk, deployed.pk]  # newest first
    assert '<option value="github">GitHub</option>' in page
    for query, expected in [
        ("provider=gitlab", [forged]),
        ("decision=rejected", [malformed, forged]),
        ("provider=github&decision=ignored", [ignored]),
        ("provider=github&decision=deployed", [deployed]),
    ]:
        page = alice_client.get(f"{deliveries_url(shop)}?{query}").content.decode()
        assert rows_on(page) == [d.pk for d in expected], query
    page = alice_client.get(f"{deliveries_url(shop)}?provider=bitbucket").content.decode()
    assert rows_on(page) == [] and "No delivery matches" in page
    # Each row: time, provider and event, short delivery id, signature, decision, reason, code.
    row = alice_client.get(f"{deliveries_url(shop)}?provider=github&decision=deployed")
    text = row.content.decode()
    assert f'title="{deployed.delivery_id}">{deployed.delivery_id[:8]}</code>' in text
    assert "production: deploying 3f2c9ab8" in text and "Signature valid" in text
    assert f'href="/deployments/{deployed.deployments.get().pk}/"' in text


@pytest.mark.django_db
def test_the_deliveries_list_is_paginated_in_a_fixed_number_of_queries(  # type: ignore[no-untyped-def]
    alice_client, shop, config
) -> None:
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get(deliveries_url(shop)).status_code == 200
        return len(queries)

    receive(config, github_push())
    few = count_queries()
    for n in range(30):
        sha = f"{n + 1:040x}"
        receive(config, github_push(sha=sha))
    assert Deployment.objects.count() == 31
    assert count_queries() == few
    page = alice_client.get(deliveries_url(shop)).content.decode()
    assert len(rows_on(page)) == 25 and "Page 1 of 2" in page
    older = alice_client.get(f"{deliveries_url(shop)}?page=2").content.decode()
    assert len(rows_on(older)) == 6


@pytest.mark.django_db
def test_no_deliveries_yet_explains_how_to_set_up_a_webhook(alice_client, shop, config) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(deliveries_url(shop)).content.decode()
    assert "No webhook deliveries yet" in page
    assert "Add one of the URLs below to your repository's webhook settings" in page
    assert '<details class="panel setup" id="setup" open>' in page
    assert f"http://testserver/hooks/github/{config.public_id}" in page
    project_page = alice_client.get(f"/projects/{shop.pk}/").content.decode()
    assert f'<a class="btn" href="{deliveries_url(shop)}">Webhooks</a>' in project_page


@pytest.mark.django_db
def test_redeliver_from_the_page_starts_a_deployment(alice_client, shop, config) -> None:  # type: ignore[no-untyped-def]
    first = receive(config, github_push()).delivery
    original = first.deployments.get()
    response = post(alice_client, f"{deliveries_url(shop, first)}redeliver/")
    again = Delivery.objects.get(redelivery_of=first)
    assert response.redirect_chain[-1][0] == deliveries_url(shop, again)
    page = response.content.decode()
    assert f"Redelivered as delivery #{again.pk}: Deployed. production: deploying 3f2c9ab8" in page
    started = again.deployments.get()
    assert started != original and started.trigger == DeployTrigger.WEBHOOK
    assert started.requested_sha == SHA
    assert f'href="/deployments/{started.pk}/"' in page
    assert f'href="{deliveries_url(shop, first)}">#{first.pk}</a>' in page  # redelivery of
    assert ActivityLog.objects.filter(action="webhook.redelivered").count() == 1
    original_page = alice_client.get(deliveries_url(shop, first)).content.decode()
    assert f'href="{deliveries_url(shop, again)}">#{again.pk}</a>' in original_page


@pytest.mark.django_db
def test_a_rejected_delivery_shows_its_reason_and_cannot_be_redelivered(  # type: ignore[no-untyped-def]
    alice_client, shop, config
) -> None:
    rejected = receive(config, github_push(), secret="not-the-secret").delivery
    page = alice_client.get(deliveries_url(shop, rejected)).content.decode()
    assert 'data-testid="delivery-reason">signature mismatch</dd>' in page
    assert '<span class="badge badge-red" data-testid="delivery-decision">Rejected</span>' in page
    assert "missing or wrong" in page and "<dd>401</dd>" in page
    assert "Redelivering…" not in page
    assert "Only a delivery with a valid signature can be redelivered." in page
    listed = alice_client.get(deliveries_url(shop)).content.decode()
    assert "signature mismatch" in listed

    response = post(alice_client, f"{deliveries_url(shop, rejected)}redeliver/")
    assert "Only a delivery with a valid signature can be redelivered." in response.content.decode()
    assert Delivery.objects.count() == 1 and not Deployment.objects.exists()


@pytest.mark.django_db
def test_the_payload_is_pretty_printed_and_a_cut_one_says_so(alice_client, shop, config) -> None:  # type: ignore[no-untyped-def]
    delivery = receive(config, github_push()).delivery
    page = alice_client.get(deliveries_url(shop, delivery)).content.decode()
    assert "{\n  &quot;ref&quot;: &quot;refs/heads/main&quot;,\n  &quot;before&quot;" in page
    assert '<th>X-GitHub-Event</th><td><code class="wrap">push</code>' in page
    assert "X-Hub-Signature-256" not in page and 'data-testid="payload-cut"' not in page

    big = payload("github_push.json")
    big["pad"] = "x" * (services.STORED_PAYLOAD_BYTES + 100)
    body = json.dumps(big).encode()
    cut = receive(config, body).delivery
    assert cut.payload_size == len(body) > len(cut.payload)
    page = alice_client.get(deliveries_url(shop, cut)).content.decode()
    assert "Cut: only the first 64.0\xa0KB of 71.8\xa0KB were kept." in page
    response = post(alice_client, f"{deliveries_url(shop, cut)}redeliver/")
    assert "body was too large to keep; push again instead." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_custom_providers_curl_example_deploys(  # type: ignore[no-untyped-def]
    alice, alice_client, shop, git_repo, live_server
) -> None:
    """The snippet on the settings page, run as shown, signs with openssl and is accepted."""
    repo = git_repo("shop")
    secret = services.regenerate_secret(alice, shop)
    host = live_server.url.removeprefix("http://")
    page = alice_client.get(settings_url(shop), HTTP_HOST=host).content.decode()
    match = re.search(r'<pre class="commands" data-testid="curl-example">(.*?)</pre>', page, re.S)
    assert match
    snippet = html.unescape(match.group(1))
    assert f"'{live_server.url}/hooks/custom/" in snippet
    done = subprocess.run(
        ["bash", "-c", snippet],
        cwd=repo.work,
        env={"PATH": "/usr/bin:/bin", "DEVFLOW_WEBHOOK_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    head = repo.git("rev-parse", "HEAD")
    assert answer["decision"] == "deployed" and answer["reason"] == (
        f"production: deploying {head[:8]}"
    )
    assert Deployment.objects.get().requested_sha == head
