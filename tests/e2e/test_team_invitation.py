"""Sign in, create a team, invite a new teammate by e-mail, switch teams, read the activity."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def invitation_link(address: str) -> str:
    sent = [message for message in mail.outbox if address in message.to]
    assert len(sent) == 1, [message.to for message in mail.outbox]
    found = re.search(r"https?://\S+/invitations/\S+/", sent[0].body)
    assert found, sent[0].body
    return found.group(0)


def sign_in_with_form(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def switch_team(page: Page, name: str) -> None:
    page.get_by_test_id("team-switcher").click()
    page.get_by_role("button", name=name).click()
    expect(page.get_by_role("status")).to_have_text(f"Now working in {name}.")
    expect(page.get_by_test_id("team-switcher")).to_have_text(f"{name} ▾")


def test_it_invites_a_new_teammate_who_signs_up_and_joins(  # type: ignore[no-untyped-def]
    new_context, installed, alice, live_server
) -> None:
    page = new_context().new_page()
    page.goto("/login/")
    sign_in_with_form(page, "alice", "not my password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    sign_in_with_form(page, "alice", PASSWORD)
    expect(page).to_have_url("/")
    expect(page.get_by_test_id("team-switcher")).to_have_text("Acme ▾")

    page.goto("/teams/")
    page.get_by_label("Name").fill("Platform")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Platform", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Team Platform created; you are its owner.")
    expect(page.get_by_test_id("team-switcher")).to_have_text("Platform ▾")
    team_page = page.url

    page.get_by_label("E-mail", exact=True).fill("bob@example.com")
    page.get_by_label("Role", exact=True).select_option(label="Deployer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_have_text("Invitation sent to bob@example.com.")
    pending = page.get_by_role("row", name="bob@example.com")
    expect(pending).to_contain_text("Deployer")

    link = invitation_link("bob@example.com")
    assert link.startswith(live_server.url)
    bob = new_context().new_page()
    bob.goto(link)
    expect(bob.get_by_role("heading", name="Join Platform")).to_be_visible()
    expect(bob.locator(".panel")).to_contain_text(
        "alice invited bob@example.com to join Platform as deployer."
    )
    bob.get_by_label("Username").fill("bob")
    bob.get_by_label("Password", exact=True).fill(PASSWORD)
    bob.get_by_label("Password again").fill(PASSWORD)
    bob.get_by_role("button", name="Create account and join").click()
    expect(bob).to_have_url("/")
    expect(bob.get_by_role("status")).to_have_text("You joined Platform.")
    expect(bob.get_by_test_id("team-switcher")).to_have_text("Platform ▾")
    expect(bob.get_by_role("link", name="bob", exact=True)).to_be_visible()

    page.goto(team_page)
    member = page.get_by_test_id("member-bob")
    expect(member).to_contain_text("bob@example.com")
    expect(member.get_by_label("Role of bob")).to_have_value("deployer")
    expect(page.get_by_text("No pending invitations")).to_be_visible()

    switch_team(page, "Acme")
    page.goto("/activity/")
    expect(page.get_by_test_id("activity-table")).not_to_contain_text("invitation.sent")
    switch_team(page, "Platform")
    expect(page).to_have_url("/activity/")
    table = page.get_by_test_id("activity-table")
    for action, who in [
        ("team.created", "alice"),
        ("invitation.sent", "alice"),
        ("invitation.accepted", "bob"),
    ]:
        row = table.get_by_role("row").filter(has=page.locator("code", has_text=action))
        expect(row).to_have_count(1)
        expect(row).to_contain_text(who)
        expect(row).to_contain_text("Success")
