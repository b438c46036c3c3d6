"""Profile → API tokens in the browser: create one, copy it, call the API with it, revoke it."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Dialog, expect

from tests.e2e.conftest import PHONE, screenshot

pytestmark = pytest.mark.browser


def call_me(base_url: str, token: str) -> tuple[int, dict[str, object]]:
    """GET /api/v1/me/ over real HTTP with the token, as a script would."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/me/", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_creates_a_token_shows_it_once_and_revokes_it(  # type: ignore[no-untyped-def]
    new_context, alice, live_server
) -> None:
    context = new_context(user=alice)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto("/profile/")
    page.get_by_role("link", name="Manage API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_text("No tokens yet")).to_be_visible()
    expect(page.get_by_label("Expiry date")).to_be_hidden()
    page.get_by_label("On a date").check()
    expect(page.get_by_label("Expiry date")).to_be_visible()
    page.get_by_label("30 days").check()
    screenshot(page, "api-tokens-empty-1280-light")

    page.get_by_label("Name").fill("ci deploys")
    expect(page.get_by_role("checkbox", name=re.compile(r"^read see"))).to_be_checked()
    page.get_by_role("checkbox", name=re.compile(r"^deploy ")).check()
    page.get_by_role("button", name="Create token").click()

    expect(page.get_by_role("heading", name=re.compile("New API token"))).to_be_visible()
    expect(page.get_by_text("you will not see it again")).to_be_visible()
    field = page.get_by_test_id("api-token")
    token = field.input_value()
    assert re.fullmatch(r"dfp_[A-Za-z0-9_-]{43}", token)
    copy = page.get_by_role("button", name="Copy the token")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot(page, "api-token-created-1280-light")

    status, me = call_me(live_server.url, token)
    assert status == 200
    assert me["username"] == "alice"
    assert me["token"]["scopes"] == ["read", "deploy"]  # type: ignore[index]

    page.get_by_role("link", name="I saved it").click()
    row = page.get_by_test_id("api-token-row")
    expect(row).to_contain_text("ci deploys")
    expect(row).to_contain_text(token[:12] + "…")
    expect(row.get_by_test_id("api-token-status")).to_have_text("active")
    expect(row).to_contain_text("127.0.0.1")  # the address it was last used from
    assert token not in page.content()
    screenshot(page, "api-tokens-list-1280-light")

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked “ci deploys”")
    assert questions and "ci deploys" in questions[0]
    expect(row.get_by_test_id("api-token-status")).to_contain_text("revoked by hand")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    status, problem = call_me(live_server.url, token)
    assert status == 401
    assert "revoked" in str(problem["detail"])


def test_the_tokens_page_fits_a_phone(new_context, alice, live_server) -> None:  # type: ignore[no-untyped-def]
    page = new_context(viewport=PHONE, user=alice).new_page()
    page.goto("/profile/tokens/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Never").check()
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("api-token").input_value()
    expect(page.get_by_role("button", name="Copy the token")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "api-token-created-375-light")
    assert call_me(live_server.url, token)[0] == 200

    page.goto("/profile/tokens/")
    expect(page.get_by_test_id("api-token-row")).to_contain_text("laptop")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "api-tokens-list-375-light")
