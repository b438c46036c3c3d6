"""The channel pages: add, test, see the exact error, re-enable, delete; the delivery log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from devflow.notifications import services
from devflow.notifications.models import Channel, Delivery, DeliveryStatus
from tests.notifications.conftest import run_delivery_jobs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_queue")]


def _add(client, url: str, name: str = "ops hook", events=("server.down",)):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("notifications:channels"), {"name": name, "url": url, "events": list(events)}
    )


def test_empty_state_invites_to_add_a_channel(alice_client) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(reverse("notifications:channels")).content.decode()
    assert "No channels yet" in page
    assert "Add a channel" in page


def test_adding_a_channel_shows_it_masked_and_a_test_reports_delivery(  # type: ignore[no-untyped-def]
    alice_client, private_acme, receiver
) -> None:
    response = _add(alice_client, f"json://user:Sup3rSecretPw@127.0.0.1:{receiver.port}/in")
    channel = Channel.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications:channel", args=[channel.pk])

    page = alice_client.get(response["Location"]).content.decode()
    assert "Sup3rSecretPw" not in page
    assert "json://user:****@127.0.0.1" in page

    alice_client.post(reverse("notifications:channel_test", args=[channel.pk]))
    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "Sending…" in page and 'http-equiv="refresh"' in page
    run_delivery_jobs()

    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert 'data-status="sent"' in page
    assert 'http-equiv="refresh"' not in page
    assert receiver.requests[0]["path"] == "/in"


def test_a_failed_test_shows_the_exact_error_and_keeps_the_channel_enabled(  # type: ignore[no-untyped-def]
    alice_client, acme, receiver
) -> None:
    _add(alice_client, f"json://127.0.0.1:{receiver.port}/in")
    channel = Channel.objects.get()
    alice_client.post(reverse("notifications:channel_test", args=[channel.pk]))
    run_delivery_jobs()

    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "127.0.0.1 is this machine (loopback); an owner can allow private addresses" in page
    channel.refresh_from_db()
    assert channel.enabled, "a test failing does not disable the channel"


def test_a_disabled_channel_shows_why_and_can_be_enabled_again(  # type: ignore[no-untyped-def]
    alice_client, acme, alice
) -> None:
    channel = services.create_channel(
        acme, alice, name="slack", url="json://127.0.0.1:9/x", events_wanted=["server.down"]
    )
    services.disable(channel, reason="The service answered 401 Unauthorized (delivery #3)")

    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "The service answered 401 Unauthorized (delivery #3)" in page
    listing = alice_client.get(reverse("notifications:channels")).content.decode()
    assert "Disabled" in listing and "401 Unauthorized" in listing

    alice_client.post(reverse("notifications:channel_enable", args=[channel.pk]))
    channel.refresh_from_db()
    assert channel.enabled and channel.disabled_reason == ""


def test_bad_url_keeps_the_form_with_a_clear_error(alice_client, acme) -> None:  # type: ignore[no-untyped-def]
    response = _add(alice_client, "slack://nothing-valid")
    assert response.status_code == 200
    assert "Apprise does not understand this slack:// URL" in response.content.decode()
    assert 'value="ops hook"' in response.content.decode(), "what was typed is kept"
    assert not Channel.objects.exists()


def test_editing_without_a_url_keeps_the_stored_one(alice_client, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/keep", events_wanted=[]
    )
    alice_client.post(
        reverse("notifications:channel", args=[channel.pk]),
        {"name": "hook renamed", "url": "", "events": ["deployment.failed", "alert.triggered"]},
    )
    channel.refresh_from_db()
    assert channel.name == "hook renamed"
    assert channel.url == "json://127.0.0.1:9/keep"
    assert channel.events == ["deployment.failed", "alert.triggered"]


def test_too_many_tests_in_a_minute_are_refused(alice_client, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/x", events_wanted=[]
    )
    url = reverse("notifications:channel_test", args=[channel.pk])
    for _ in range(services.TESTS_PER_MINUTE):
        alice_client.post(url)
    response = alice_client.post(url, follow=True)
    assert "enough tests for one minute" in response.content.decode()
    assert Delivery.objects.filter(is_test=True).count() == services.TESTS_PER_MINUTE


def test_delete_removes_the_channel(alice_client, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/x", events_wanted=[]
    )
    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "data-confirm=" in page
    alice_client.post(reverse("notifications:channel_delete", args=[channel.pk]))
    assert not Channel.objects.exists()


def test_another_teams_channel_is_a_404(client, charlie, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/x", events_wanted=[]
    )
    client.force_login(charlie)
    for name in ("channel", "channel_test", "channel_enable", "channel_delete"):
        method = client.get if name == "channel" else client.post
        assert method(reverse(f"notifications:{name}", args=[channel.pk])).status_code == 404
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_a_deployer_sees_channels_but_cannot_change_them(client, bob, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/x", events_wanted=[]
    )
    client.force_login(bob)
    assert client.get(reverse("notifications:channel", args=[channel.pk])).status_code == 200
    assert "Add a channel" not in client.get(reverse("notifications:channels")).content.decode()
    assert client.post(reverse("notifications:channel_test", args=[channel.pk])).status_code == 403
    assert (
        client.post(reverse("notifications:channel_delete", args=[channel.pk])).status_code == 403
    )
    assert _add(client, "json://127.0.0.1:9/y", name="mine").status_code == 403


def test_delivery_log_filters_by_result(alice_client, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="hook", url="json://127.0.0.1:9/x", events_wanted=["server.down"]
    )
    sent, failed = services.emit(acme, "server.down", title="Sent one", body="b") + services.emit(
        acme, "server.down", title="Failed one", body="b"
    )
    Delivery.objects.filter(pk=sent.pk).update(status=DeliveryStatus.SENT)
    Delivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, error="HTTP 500")

    page = alice_client.get(reverse("notifications:deliveries") + "?status=failed").content.decode()
    assert "Failed one" in page and "HTTP 500" in page
    assert "Sent one" not in page
    assert channel.name in page
