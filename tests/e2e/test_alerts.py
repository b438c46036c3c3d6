"""Alerts in the browser: acknowledge an open alert, read its timeline, the rules on a phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from devflow.monitoring import alerts
from devflow.monitoring.models import Alert, AlertState, ServerSample
from devflow.notifications import services as notifications
from devflow.servers.models import Server
from devflow.taskqueue import ensure_broker_dirs
from tests.e2e.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.services]

GiB = 1024**3


@pytest.fixture
def alert(transactional_db, alice, acme) -> Alert:  # type: ignore[no-untyped-def]
    """Memory on web-1 above 90 % for the last 5 minutes, evaluated: one triggered alert."""
    ensure_broker_dirs()  # evaluating queues the notification; no worker sends it here
    ops = notifications.create_channel(
        acme, alice, name="ops", url="json://127.0.0.1:9/ops", events_wanted=[]
    )
    server = Server.objects.create(team=acme, name="web-1", host="10.0.0.5", status="up")
    alerts.create_rule(acme, alice, alerts.RuleData(
        name="Memory high", metric="ram", operator=">", threshold=90.0, duration_minutes=5,
        channels=[ops], escalate_after_minutes=15, escalation_channels=[ops],
    ))  # fmt: skip
    now = timezone.now()
    for minute in range(7):
        ServerSample.objects.create(
            server=server, at=now - timedelta(minutes=minute), cpu_percent=35.0,
            mem_used=int(7.6 * GiB), mem_total=8 * GiB, swap_used=0, swap_total=GiB,
            load1=1.2, load5=1.0, load15=0.9, net_rx_bps=50_000.0, net_tx_bps=20_000.0,
            disk_used=40 * GiB, disk_total=100 * GiB,
            mounts=[{"mount": "/", "used": 40 * GiB, "total": 100 * GiB}],
        )  # fmt: skip
    alerts.evaluate(now)
    return Alert.objects.get()


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url} is {width}px wide"


def test_an_alert_can_be_acknowledged_and_its_timeline_says_by_whom(new_context, alice, alert):
    page = new_context(user=alice).new_page()
    page.goto("/monitoring/")
    expect(page.get_by_test_id("open-alert-count")).to_have_text("1 open alert")
    page.get_by_test_id("open-alert-count").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/monitoring/alerts/$"))

    row = page.get_by_test_id("open-alert")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("alert-state")).to_have_text("Triggered")
    expect(row).to_contain_text("web-1")
    expect(row).to_contain_text("95.0 %")
    screenshot(page, "alerts-open-1280-light")

    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged “Memory high” on web-1")
    expect(row.get_by_test_id("alert-state")).to_have_text("Acknowledged")
    expect(row).to_contain_text("Acknowledged by alice")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
    screenshot(page, "alerts-acknowledged-1280-light")

    row.get_by_role("link", name="web-1").click()
    timeline = page.get_by_test_id("alert-timeline")
    expect(timeline).to_contain_text("Triggered at 95.0 %")
    expect(timeline).to_contain_text("Acknowledged by alice")
    expect(page.get_by_test_id("alert-state")).to_have_text("Acknowledged")
    screenshot(page, "alert-detail-1280-light")
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == alice


def test_the_alert_pages_fit_a_phone(new_context, alice, alert):
    page = new_context(viewport=PHONE, user=alice).new_page()
    page.goto("/monitoring/alerts/")
    row = page.get_by_test_id("open-alert")
    expect(row.get_by_role("button", name="Acknowledge")).to_be_visible()
    no_sideways_scrolling(page)
    screenshot(page, "alerts-open-375-light")
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("Acknowledged by alice")

    page.goto("/monitoring/alerts/rules/")
    expect(page.get_by_test_id("alert-rule")).to_contain_text("Memory > 90 % for 5 min")
    no_sideways_scrolling(page)
    screenshot(page, "alert-rules-375-light")
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Name")).to_have_value("Memory high")
    no_sideways_scrolling(page)
    screenshot(page, "alert-rule-form-375-light")
