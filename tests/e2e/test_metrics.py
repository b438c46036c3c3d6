"""Server metrics in the browser: charts from the JSON series, switching range, phone width."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from devflow.monitoring.models import Resolution, ServerRollup, ServerSample
from devflow.servers.models import Server
from tests.e2e.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.services]

GiB = 1024**3


@pytest.fixture
def server(transactional_db, alice, acme) -> Server:  # type: ignore[no-untyped-def]
    """A server with an hour of samples and six hours of 1-minute roll-ups, CPU as a wave."""
    server = Server.objects.create(
        team=acme, name="web-1", host="10.0.0.5", status="up", created_by=alice
    )
    now = timezone.now()
    ServerSample.objects.bulk_create(
        ServerSample(
            server=server,
            at=now - timedelta(minutes=minute),
            cpu_percent=40 + 30 * math.sin(minute / 6),
            mem_used=int((3 + math.sin(minute / 10)) * GiB),
            mem_total=8 * GiB,
            swap_used=0,
            swap_total=2 * GiB,
            load1=1 + math.cos(minute / 8),
            load5=0.8,
            load15=0.6,
            net_rx_bps=200_000 + 150_000 * math.sin(minute / 5),
            net_tx_bps=50_000.0,
            disk_read_bps=1_000_000.0 if minute % 10 == 0 else 20_000.0,
            disk_write_bps=300_000.0,
            disk_used=42 * GiB,
            disk_total=100 * GiB,
            mounts=[
                {"mount": "/", "used": 30 * GiB, "total": 60 * GiB},
                {"mount": "/var/lib/docker", "used": 12 * GiB, "total": 40 * GiB},
            ],
        )
        for minute in range(60)
    )
    start = now.replace(second=0, microsecond=0)
    ServerRollup.objects.bulk_create(
        ServerRollup(
            server=server,
            resolution=Resolution.MINUTE,
            bucket=start - timedelta(minutes=minute + 1),
            samples=1,
            cpu_percent=20 + 10 * math.sin(minute / 30),
            mem_used=3 * GiB,
            mem_total=8 * GiB,
            swap_used=0,
            load1=0.7,
            net_rx_bps=100_000.0,
            net_tx_bps=40_000.0,
            disk_read_bps=10_000.0,
            disk_write_bps=200_000.0,
            disk_used=42 * GiB,
            disk_total=100 * GiB,
        )
        for minute in range(6 * 60)
    )
    return server


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width}px wide"


def test_the_metrics_page_draws_charts_and_switches_range(new_context, alice, server):
    page = new_context(user=alice).new_page()
    page.goto(f"/servers/{server.pk}/")
    page.get_by_role("link", name="Metrics", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/monitoring/servers/{server.pk}/$"))

    charts = page.get_by_test_id("metrics-charts")
    expect(charts).to_have_attribute("data-loaded", "1h")
    expect(page.locator("[data-chart] canvas")).to_have_count(6)
    cpu = page.get_by_test_id("chart-cpu")
    expect(cpu).to_have_attribute("data-points", "60")
    # Off the chart, the legend shows the newest value, with its unit.
    expect(cpu.locator(".u-legend .u-series").nth(1)).to_contain_text(re.compile(r"\d+\.\d%"))
    expect(page.get_by_test_id("chart-memory").locator(".u-legend")).to_contain_text(" GiB")
    expect(page.get_by_test_id("chart-network").locator(".u-legend")).to_contain_text("KiB/s")
    expect(page.get_by_test_id("mounts")).to_contain_text("/var/lib/docker")
    assert float(cpu.get_attribute("data-last") or "nan") == pytest.approx(40, abs=0.01)
    # The canvas has something drawn on it (not all transparent).
    painted = page.evaluate(
        """() => { const c = document.querySelector('[data-chart="cpu"] canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 1000
    screenshot(page, "metrics-server-1280-light")

    # A new sample arrives; the 1 h range fetches again (on its timer, or on coming back
    # to the tab, which is what this fires).
    newest = ServerSample.objects.filter(server=server).latest("at")
    newest.pk = None
    newest.at = timezone.now()
    newest.cpu_percent = 99.5
    newest.save()
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(cpu).to_have_attribute("data-points", "61")
    expect(cpu.locator(".u-legend .u-series").nth(1)).to_contain_text("99.5%")

    page.get_by_role("link", name="6 h", exact=True).click()
    expect(charts).to_have_attribute("data-loaded", "6h")
    expect(page).to_have_url(re.compile(r"range=6h"))
    points = int(cpu.get_attribute("data-points") or 0)
    assert points in (359, 360)
    expect(page.get_by_role("link", name="6 h", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href", re.compile(r"range=6h$")
    )
    page.get_by_role("link", name="7 d", exact=True).click()
    expect(charts).to_have_attribute("data-loaded", "7d")
    expect(cpu).to_have_attribute("data-points", "0")
    expect(cpu.locator(".chart-empty")).to_be_visible()

    page.reload()  # the range is in the address
    expect(charts).to_have_attribute("data-loaded", "7d")


def test_the_metrics_page_and_overview_fit_a_phone(new_context, alice, server):
    page = new_context(viewport=PHONE, user=alice).new_page()
    page.goto(f"/monitoring/servers/{server.pk}/")
    expect(page.get_by_test_id("metrics-charts")).to_have_attribute("data-loaded", "1h")
    width = page.evaluate("document.querySelector('[data-chart=\"cpu\"] canvas').clientWidth")
    assert 200 <= width <= PHONE["width"]
    no_sideways_scrolling(page)
    screenshot(page, "metrics-server-375-light")

    page.goto("/monitoring/")
    expect(page.get_by_test_id("overview-row")).to_have_count(1)
    expect(page.locator("svg.spark polyline")).to_have_count(1)
    no_sideways_scrolling(page)
    screenshot(page, "metrics-overview-375-light")


def test_the_overview_in_dark_mode_with_the_token_panel(new_context, alice, server):
    page = new_context(theme="dark", user=alice).new_page()
    page.goto("/monitoring/")
    expect(page.get_by_role("link", name="Monitoring")).to_have_class(re.compile("active"))
    page.get_by_label("Token name").fill("prometheus on ops-1")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("metrics-token").input_value()
    assert token.startswith("dfm_")
    screenshot(page, "metrics-token-1280-dark")
    page.get_by_role("link", name="I saved it").click()
    expect(page.get_by_test_id("tokens")).to_contain_text("prometheus on ops-1")
    screenshot(page, "metrics-overview-1280-dark")
    page.goto(f"/monitoring/servers/{server.pk}/")
    expect(page.get_by_test_id("metrics-charts")).to_have_attribute("data-loaded", "1h")
    screenshot(page, "metrics-server-1280-dark")
    page.get_by_role("button", name="Toggle dark mode").click()  # charts redrawn in light colours
    expect(page.locator("[data-chart] canvas")).to_have_count(6)
    expect(page.get_by_test_id("chart-cpu").locator(".u-legend")).to_contain_text("%")


def test_a_server_without_samples_shows_the_empty_state_and_its_tabs(
    new_context, transactional_db, alice, acme
):
    server = Server.objects.create(
        team=acme, name="db-1", host="10.0.0.6", status="down", status_message="Timed out"
    )
    page = new_context(user=alice).new_page()
    page.goto(f"/servers/{server.pk}/")
    expect(page.get_by_role("link", name="Overview", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    screenshot(page, "metrics-server-detail-tabs-1280-light")
    page.get_by_role("link", name="Metrics", exact=True).click()
    expect(page.get_by_test_id("metrics-empty")).to_contain_text(
        "the first sample arrives within a minute"
    )
    expect(page.get_by_test_id("server-down")).to_contain_text("Timed out")
    expect(page.locator("[data-chart]")).to_have_count(0)
    screenshot(page, "metrics-server-empty-1280-light")
