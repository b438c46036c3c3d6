"""Notification channels in the browser: add one, send a test through a real worker, see it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, screenshot
from tests.notifications.conftest import receiver  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.services]


def test_add_a_channel_and_send_a_test(  # type: ignore[no-untyped-def]
    new_context,
    alice,
    acme,
    receiver,  # noqa: F811
    start_worker,
) -> None:
    acme.allow_private_egress = True
    acme.save(update_fields=["allow_private_egress"])
    start_worker()
    page = new_context(user=alice).new_page()
    page.goto("/notifications/")
    expect(page.get_by_text("No channels yet")).to_be_visible()

    page.get_by_label("Name").fill("ops webhook")
    page.get_by_label("Apprise URL").fill(f"json://ops:PaSsWoRd123@127.0.0.1:{receiver.port}/in")
    page.get_by_label("Alert triggered").check()
    page.get_by_role("button", name="Add channel").click()

    expect(page.get_by_role("heading", name="ops webhook")).to_be_visible()
    expect(page.get_by_test_id("masked-url")).to_contain_text("json://ops:****@127.0.0.1")
    expect(page.locator("body")).not_to_contain_text("PaSsWoRd123")

    page.get_by_test_id("send-test").click()
    expect(page.locator('[data-testid="delivery-row"][data-status="sent"]')).to_be_visible(
        timeout=30_000
    )
    assert receiver.requests and b"DevFlow Pro test notification" in receiver.requests[0]["body"]
    screenshot(page, "notifications-channel")

    phone = new_context(viewport=PHONE, user=alice).new_page()
    phone.goto("/notifications/")
    expect(phone.get_by_test_id("channel-row")).to_contain_text("ops webhook")
    screenshot(phone, "notifications-list-phone")


def test_a_refused_address_shows_the_reason(new_context, alice, acme, start_worker) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    page = new_context(user=alice).new_page()
    page.goto("/notifications/")
    page.get_by_label("Name").fill("metadata")
    page.get_by_label("Apprise URL").fill("json://169.254.169.254/latest")
    page.get_by_role("button", name="Add channel").click()
    page.get_by_test_id("send-test").click()
    expect(page.get_by_test_id("delivery-error")).to_contain_text(
        "169.254.169.254 is a cloud metadata address", timeout=30_000
    )
    screenshot(page, "notifications-refused")
