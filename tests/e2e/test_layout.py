"""Layout on a phone and on a desktop, in light and dark theme, with screenshots to look at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from devflow.accounts import services
from devflow.accounts.models import Team, User
from devflow.core import audit
from devflow.core.models import ActivityResult, ActivitySource, Job, JobStatus
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_team(alice: User, bob: User, acme: Team) -> Team:
    """Acme with jobs in every state, pending invitations and activity from several sources."""
    services.create_team(alice, "Platform engineering")
    services.invite(alice, acme, "dana.longname-for-layout@subsidiary.example.com", "maintainer")
    services.invite(alice, acme, "erin@example.com", "viewer")
    now = timezone.now()
    for status, error in [
        (JobStatus.SUCCEEDED, ""),
        (JobStatus.FAILED, "uname failed with exit status 1."),
        (JobStatus.RUNNING, ""),
        (JobStatus.QUEUED, ""),
    ]:
        Job.objects.create(
            team=acme,
            kind="core.diagnostics",
            status=status,
            actor=alice,
            error=error,
            started_at=now - timedelta(minutes=3) if status != JobStatus.QUEUED else None,
            finished_at=now if status in JobStatus.finished() else None,
        )
    audit.record(
        "member.role_changed",
        actor=alice,
        team=acme,
        target=bob,
        details={"from": "viewer", "to": "deployer"},
    )
    audit.record(
        "login.locked_out",
        team=acme,
        result=ActivityResult.DENIED,
        target_label="someone-guessing-passwords@example.com",
    )
    audit.record(
        "job.started", actor=bob, team=acme, source=ActivitySource.API, target=Job.objects.first()
    )
    return acme


def horizontal_overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_it_fits_a_phone_and_the_menu_toggles_the_navigation(new_context, busy_team, alice) -> None:  # type: ignore[no-untyped-def]
    page = new_context(viewport=PHONE, user=alice).new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    navigation = page.get_by_role("navigation")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(navigation).to_be_hidden()
    menu.click()
    expect(navigation).to_be_visible()
    expect(navigation.get_by_role("link", name="Activity")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "menu-open-375-light")
    menu.click()
    expect(navigation).to_be_hidden()

    menu.click()
    navigation.get_by_role("link", name="Activity").click()
    expect(page).to_have_url("/activity/")
    expect(navigation).to_be_hidden()


def test_the_menu_button_is_not_shown_on_a_desktop(new_context, busy_team, alice) -> None:  # type: ignore[no-untyped-def]
    page = new_context(viewport=DESKTOP, user=alice).new_page()
    page.goto("/")
    expect(page.get_by_role("navigation")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()


def test_the_theme_button_switches_to_dark_and_it_is_remembered(new_context, alice) -> None:  # type: ignore[no-untyped-def]
    page = new_context(user=alice).new_page()
    page.goto("/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    page.get_by_role("button", name="Toggle dark mode").click()
    expect(html).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(16, 19, 26)"  # --bg of the dark theme
    page.goto("/activity/")
    expect(html).to_have_attribute("data-theme", "dark")


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_pages_render_without_horizontal_scrolling(  # type: ignore[no-untyped-def]
    new_context, busy_team, alice, viewport, theme
) -> None:
    """Take the screenshots in test-artifacts/ (look at them after a layout change)."""
    page = new_context(viewport=viewport, user=alice).new_page()
    page.goto("/")
    if theme == "dark":
        page.get_by_role("button", name="Toggle dark mode").click()
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    pages = [
        ("dashboard", "/", "Dashboard"),
        ("team", f"/teams/{busy_team.pk}/", "Acme"),
        ("activity", "/activity/", "Activity"),
    ]
    overflowing = {}
    for name, path, heading in pages:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        screenshot(page, f"{name}-{viewport['width']}-{theme}")
        overflowing[name] = horizontal_overflow(page)
    assert overflowing == {name: 0 for name, _, _ in pages}
