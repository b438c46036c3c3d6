"""Health checks in the browser: the dashboard's status, the detail page's chart, a phone."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from devflow.monitoring import health
from devflow.monitoring.models import CheckOutcome, HealthCheck, HealthResult
from tests.e2e.conftest import PHONE, screenshot
from tests.monitoring.health_servers import Site, serve

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


@pytest.fixture
def checks(transactional_db, alice, acme, site) -> dict[str, HealthCheck]:  # type: ignore[no-untyped-def]
    """ "shop" checked for real against a local server (up), with a day of history that had
    a short outage; "api" failing twice for real (down)."""
    acme.allow_private_egress = True
    acme.save()
    shop = health.create(alice, acme, health.CheckData(name="shop", url=site.url("/ok")))
    api = health.create(alice, acme, health.CheckData(name="api", url=site.url("/error")))
    now = timezone.now()
    HealthResult.objects.bulk_create(
        HealthResult(
            health_check=shop,
            at=now - timedelta(minutes=minute + 1),
            outcome=CheckOutcome.DOWN if 300 <= minute < 310 else CheckOutcome.UP,
            response_ms=None if 300 <= minute < 310 else int(80 + 40 * math.sin(minute / 40)),
        )
        for minute in range(24 * 60)
    )
    for check in (shop, api, api):
        check.refresh_from_db()
        health.record(check, health.run_check(check))
    return {"shop": shop, "api": api}


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width}px wide"


def test_the_dashboard_shows_each_checks_status_and_the_detail_page_draws_its_chart(
    new_context, alice, checks
):  # type: ignore[no-untyped-def]
    page = new_context(user=alice).new_page()
    page.goto("/monitoring/health/")
    expect(page.get_by_role("link", name="Health checks")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("health-row")
    expect(rows).to_have_count(2)
    api = page.locator('[data-check="api"]')
    expect(api.get_by_test_id("health-status")).to_have_text("Down")
    shop = page.locator('[data-check="shop"]')
    expect(shop.get_by_test_id("health-status")).to_have_text("Up")
    # 10 minutes down in a day of one check a minute (the real check adds one up).
    expect(shop.get_by_test_id("uptime-1")).to_have_text("99.31%")
    expect(page.get_by_test_id("health-summary")).to_contain_text("1 down")
    screenshot(page, "health-list-1280-light")

    page.get_by_label("Status").select_option("down")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-check", "api")

    page.goto("/monitoring/health/")
    page.get_by_role("link", name="shop").click()
    chart = page.get_by_test_id("health-chart")
    expect(chart).to_have_attribute("data-loaded", "24h")
    figure = page.get_by_test_id("response-chart")
    points = int(figure.get_attribute("data-points") or 0)
    assert 280 <= points <= 289  # 5-minute buckets, not 1,440 results
    painted = page.evaluate(
        """() => { const c = document.querySelector('[data-testid="response-chart"] canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 1000
    expect(figure.locator(".u-legend")).to_contain_text(" ms")
    expect(page.get_by_test_id("health-results")).to_contain_text("Up")
    screenshot(page, "health-detail-1280-light")

    page.get_by_role("link", name="7d", exact=True).click()
    expect(chart).to_have_attribute("data-loaded", "7d")
    expect(page).to_have_url(re.compile(r"range=7d"))

    page.goto(f"/monitoring/health/{checks['api'].pk}/")
    expect(page.get_by_test_id("health-down")).to_contain_text("Answered HTTP 500, expected 200.")
    screenshot(page, "health-detail-down-1280-light")


def test_the_health_pages_fit_a_phone(new_context, alice, checks):  # type: ignore[no-untyped-def]
    page = new_context(viewport=PHONE, user=alice).new_page()
    page.goto("/monitoring/health/")
    expect(page.get_by_test_id("health-row")).to_have_count(2)
    no_sideways_scrolling(page)
    screenshot(page, "health-list-375-light")
    page.goto(f"/monitoring/health/{checks['shop'].pk}/")
    expect(page.get_by_test_id("health-chart")).to_have_attribute("data-loaded", "24h")
    width = page.evaluate(
        "document.querySelector('[data-testid=\"response-chart\"] canvas').clientWidth"
    )
    assert 200 <= width <= PHONE["width"]
    no_sideways_scrolling(page)
    screenshot(page, "health-detail-375-light")


def test_adding_a_check_with_the_form(new_context, alice, transactional_db):  # type: ignore[no-untyped-def]
    page = new_context(user=alice).new_page()
    page.goto("/monitoring/health/")
    page.get_by_test_id("health-add").first.click()
    page.get_by_label("TCP port").check()
    expect(page.get_by_test_id("http-fields")).to_be_hidden()
    page.get_by_label("Name").fill("database")
    page.get_by_label("Host").fill("db.example.com")
    page.get_by_label("Port", exact=True).fill("5432")
    screenshot(page, "health-form-1280-light")
    page.get_by_role("button", name="Add the check").click()
    expect(page.get_by_test_id("health-status")).to_have_text("Not checked yet")
    assert HealthCheck.objects.get().target == "db.example.com:5432"
