"""First-run setup in the browser: the one-time token creates the first admin."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from devflow.accounts import services
from devflow.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def fill_setup_form(page: Page, token: str) -> None:
    page.get_by_label("Setup token").fill(token)
    page.get_by_label("Username").fill("root")
    page.get_by_label("E-mail").fill("root@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create admin").click()


def test_it_creates_the_first_admin_with_the_setup_token(page: Page, transactional_db) -> None:  # type: ignore[no-untyped-def]
    services.setup_token_path().unlink(missing_ok=True)
    token = services.issue_setup_token()  # what `devflow up` prints
    assert token

    page.goto("/login/")
    expect(page).to_have_url("/setup/")
    expect(page.get_by_role("heading", name="Create the first admin")).to_be_visible()

    fill_setup_form(page, "not-the-token")
    expect(page.get_by_role("alert")).to_have_text("The setup token is wrong or was already used.")
    assert not User.objects.exists()

    fill_setup_form(page, token)
    expect(page).to_have_url("/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Welcome! Your admin account")
    expect(page.get_by_role("link", name="root", exact=True)).to_be_visible()
    expect(page.get_by_test_id("team-switcher")).to_contain_text("root's team")
    assert User.objects.get(username="root").is_superuser
    assert not services.setup_token_path().exists()

    response = page.goto("/setup/")
    assert response is not None and response.status == 404
