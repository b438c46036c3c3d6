"""Webhooks in the browser: regenerate the secret, push as GitHub would, see the delivery deploy.

The web process only queues the deployment; the test checks what the pages say about it.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from devflow.deployments.models import Deployment, DeployTrigger
from devflow.taskqueue import ensure_broker_dirs
from devflow.webhooks.models import Decision, Delivery, WebhookConfig
from tests.deployments import conftest as deployments
from tests.e2e.conftest import ARTIFACTS, PHONE, screenshot
from tests.webhooks.conftest import payload, post, signed_headers

git_repo = deployments.git_repo
local_server = deployments.local_server
make_project = deployments.make_project

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture(autouse=True)
def _broker() -> None:
    ensure_broker_dirs()  # the web process queues jobs; no worker runs them here


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width}px wide"


def panel_shot(page: Page, selector: str, name: str) -> None:
    """A picture of one panel, next to the full-page screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(selector).screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_regenerate_the_secret_push_as_github_and_see_the_deployment(  # type: ignore[no-untyped-def]
    new_context, alice, local_server, git_repo, make_project, tmp_path, live_server
) -> None:
    repo = git_repo("site")
    project = make_project(repo, [local_server], deploy_path=str(tmp_path / "www" / "site"))
    context = new_context(user=alice)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()

    page.goto(f"/projects/{project.pk}/settings/")
    panel = page.get_by_test_id("webhooks-panel")
    expect(panel.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page.get_by_test_id("secret-hint")).to_contain_text(
        "Regenerate to see a secret you can paste into your provider."
    )
    config = WebhookConfig.objects.get(project=project)
    assert config.secret not in page.content()
    for provider in ("github", "gitlab", "bitbucket", "custom"):
        expect(page.locator(f"#hook-url-{provider}")).to_have_value(
            f"{live_server.url}/hooks/{provider}/{config.public_id}"
        )
    panel.scroll_into_view_if_needed()
    screenshot(page, "webhooks-settings-1280-light")
    panel_shot(page, "#webhooks", "webhooks-panel-1280-light")

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    panel.get_by_role("button", name="Regenerate secret").click()
    expect(page.get_by_role("heading", name=re.compile("New webhook secret"))).to_be_visible()
    assert questions and questions[0].startswith(
        "Regenerate the webhook secret? The old secret stops working at once"
    )
    expect(page.get_by_text("Copy it now: you will not see it again.")).to_be_visible()
    secret = page.get_by_test_id("webhook-secret").input_value()
    config.refresh_from_db()
    assert secret == config.secret
    page.get_by_role("button", name="Copy the secret").click()
    expect(page.get_by_role("button", name="Copy the secret")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    url = page.locator("#hook-url-github").input_value()
    assert url == f"{live_server.url}/hooks/github/{config.public_id}"
    screenshot(page, "webhooks-secret-1280-light")

    # Shown once: back on the settings page it is gone.
    page.get_by_role("link", name="I saved it").click()
    expect(page.get_by_test_id("secret-hint")).to_contain_text("It was last regenerated")
    assert secret not in page.content()
    page.get_by_test_id("webhooks-panel").get_by_role("link", name="See deliveries").click()
    expect(page.get_by_test_id("deliveries-empty")).to_contain_text("No webhook deliveries yet")
    expect(page.locator("#hook-url-github")).to_have_value(url)  # the set-up help is open
    screenshot(page, "webhooks-deliveries-empty-1280-light")
    page.go_back()

    # GitHub pushes a real commit of the project's branch to the URL the page showed.
    sha = repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second version")
    body = payload("github_push.json")
    body["ref"], body["after"] = "refs/heads/main", sha
    body["head_commit"].update(id=sha, message="Second version")
    raw = json.dumps(body).encode()
    status, answer = post(url, raw, signed_headers("github", secret, raw))
    assert status == 202 and answer["decision"] == "deployed", answer
    delivery = Delivery.objects.get(pk=answer["delivery"])
    deployment = Deployment.objects.get(pk=answer["deployments"][0])
    assert deployment.trigger == DeployTrigger.WEBHOOK and deployment.requested_sha == sha

    page.get_by_test_id("webhooks-panel").get_by_role("link", name="See deliveries").click()
    expect(page.get_by_role("heading", name=re.compile("Webhook deliveries"))).to_be_visible()
    row = page.get_by_test_id(f"delivery-{delivery.pk}")
    expect(row).to_contain_text("Deployed")
    expect(row).to_contain_text(f"production: deploying {sha[:8]}")
    expect(row).to_contain_text("GitHub")
    expect(row.get_by_title("Signature valid").filter(visible=True)).to_have_count(1)
    screenshot(page, "webhooks-deliveries-1280-light")

    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("delivery-decision")).to_have_text("Deployed")
    expect(page.get_by_test_id("payload")).to_contain_text('"ref": "refs/heads/main"')
    screenshot(page, "webhooks-delivery-1280-light")
    page.get_by_test_id("delivery-deployments").get_by_role(
        "link", name=f"#{deployment.pk}"
    ).click()
    expect(page).to_have_url(re.compile(rf"/deployments/{deployment.pk}/$"))

    # On a phone, in dark mode: nothing scrolls sideways; long URLs stay inside their fields.
    phone = new_context(user=alice, viewport=PHONE, theme="dark").new_page()
    phone.goto(f"/projects/{project.pk}/settings/")
    phone.get_by_test_id("webhooks-panel").scroll_into_view_if_needed()
    phone.get_by_text("Sign and send it with curl and openssl").click()
    expect(phone.get_by_test_id("curl-example")).to_contain_text("openssl dgst -sha256 -hmac")
    no_sideways_scrolling(phone)
    screenshot(phone, "webhooks-settings-375-dark")
    panel_shot(phone, "#webhooks", "webhooks-panel-375-dark")
    phone.goto(f"/webhooks/projects/{project.pk}/deliveries/")
    expect(phone.get_by_test_id(f"delivery-{delivery.pk}")).to_contain_text("Deployed")
    no_sideways_scrolling(phone)
    # The table fits too: no column is hidden behind a sideways scroll inside its panel.
    table = phone.locator(".table-wrap")
    assert table.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table scrolls sideways"
    screenshot(phone, "webhooks-deliveries-375-dark")
    phone.goto(f"/webhooks/projects/{project.pk}/deliveries/{delivery.pk}/")
    no_sideways_scrolling(phone)
    screenshot(phone, "webhooks-delivery-375-dark")
    assert Delivery.objects.get().decision == Decision.DEPLOYED
