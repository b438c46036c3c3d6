"""Channels deliver through real services: an SMTP server and an HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from devflow.core.models import ActivityLog
from devflow.notifications import services
from devflow.notifications.models import Channel, Delivery, DeliveryStatus
from tests.notifications.conftest import run_delivery_jobs

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.usefixtures("no_queue")]


def _channel(team, alice, url: str, events: list[str], name: str = "ops") -> Channel:  # type: ignore[no-untyped-def]
    return services.create_channel(team, alice, name=name, url=url, events_wanted=events)


def test_email_arrives_with_the_event_title_body_and_link(private_acme, alice, mailbox) -> None:  # type: ignore[no-untyped-def]
    url = f"mailto://127.0.0.1:{mailbox.port}?from=devflow@example.com&to=ops@example.com"
    _channel(private_acme, alice, url, ["deployment.failed"], name="ops mail")

    deliveries = services.emit(
        private_acme, "deployment.failed", title="Deployment of shop (production) failed",
        body="Deployment #7 (abc12345 Fix cart), started by alice: npm ci exited 1",
        link="http://devflow.example/deployments/7/",
    )  # fmt: skip
    assert len(deliveries) == 1
    [job] = run_delivery_jobs()

    assert job.status == "succeeded"
    [message] = mailbox.messages
    assert message["Subject"] == "Deployment of shop (production) failed"
    assert message["X-Envelope-To"] == "ops@example.com"
    text = (
        message.get_payload(decode=True)
        if not message.is_multipart()
        else b"".join(
            part.get_payload(decode=True) or b""
            for part in message.walk()
            if not part.is_multipart()
        )
    )
    assert b"npm ci exited 1" in text
    assert b"http://devflow.example/deployments/7/" in text
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.sent_at is not None


def test_webhook_channel_posts_json_with_the_message(private_acme, alice, receiver) -> None:  # type: ignore[no-untyped-def]
    _channel(
        private_acme, alice, f"json://127.0.0.1:{receiver.port}/hooks/devflow", ["server.down"]
    )

    services.emit(private_acme, "server.down", title="Server web-1 is down",
                  body="web-1 (10.0.0.5) does not answer: connection refused")  # fmt: skip
    run_delivery_jobs()

    [request] = receiver.requests
    assert request["path"] == "/hooks/devflow"
    payload = json.loads(request["body"])
    assert payload["title"] == "Server web-1 is down"
    assert "connection refused" in payload["message"]
    assert payload["type"] == "failure"


def test_only_subscribed_enabled_channels_of_the_team_receive(  # type: ignore[no-untyped-def]
    private_acme, alice, globex, charlie, receiver
) -> None:
    hook = f"json://127.0.0.1:{receiver.port}/x"
    _channel(private_acme, alice, hook, ["deployment.succeeded"], name="wants it")
    _channel(private_acme, alice, hook, ["deployment.failed"], name="does not")
    off = _channel(private_acme, alice, hook, ["deployment.succeeded"], name="disabled")
    services.disable(off, reason="test")
    _channel(globex, charlie, hook, ["deployment.succeeded"], name="other team")

    deliveries = services.emit(private_acme, "deployment.succeeded", title="Deployed", body="ok")

    assert [d.channel.name for d in deliveries] == ["wants it"]


def test_explicit_channels_ignore_subscriptions_but_not_team_or_disabled(  # type: ignore[no-untyped-def]
    private_acme, alice, globex, charlie
) -> None:
    mine = _channel(private_acme, alice, "json://127.0.0.1:9/x", [], name="rule channel")
    theirs = _channel(globex, charlie, "json://127.0.0.1:9/x", [], name="theirs")

    deliveries = services.emit(
        private_acme, "alert.triggered", title="CPU", body="high", channels=[mine, theirs]
    )

    assert [d.channel for d in deliveries] == [mine]


def test_unknown_event_is_a_programming_error(private_acme) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="Unknown event"):
        services.emit(private_acme, "deployment.exploded", title="x", body="y")


def test_loopback_is_refused_unless_the_owner_allows_it_and_the_channel_is_disabled(  # type: ignore[no-untyped-def]
    acme, alice, receiver
) -> None:
    channel = _channel(acme, alice, f"json://127.0.0.1:{receiver.port}/x", ["server.down"])

    services.emit(acme, "server.down", title="down", body="down")
    run_delivery_jobs()

    assert receiver.requests == []
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.permanent
    assert "127.0.0.1 is this machine (loopback); an owner can allow private" in delivery.error
    assert delivery.attempts == 1, "a refusal is not retried"
    channel.refresh_from_db()
    assert not channel.enabled
    assert "loopback" in channel.disabled_reason
    assert ActivityLog.objects.filter(action="notifications.channel_disabled").exists()


def test_metadata_address_is_refused_even_when_private_addresses_are_allowed(  # type: ignore[no-untyped-def]
    private_acme, alice
) -> None:
    channel = _channel(private_acme, alice, "json://169.254.169.254/latest", ["server.down"])

    services.emit(private_acme, "server.down", title="down", body="down")
    run_delivery_jobs()

    delivery = Delivery.objects.get()
    assert "169.254.169.254 is a cloud metadata address" in delivery.error
    channel.refresh_from_db()
    assert not channel.enabled


def test_service_saying_unauthorized_disables_the_channel_with_its_reason(  # type: ignore[no-untyped-def]
    private_acme, alice, receiver
) -> None:
    receiver.status = 401
    channel = _channel(private_acme, alice, f"json://127.0.0.1:{receiver.port}/x", ["server.down"])

    services.emit(private_acme, "server.down", title="down", body="down")
    run_delivery_jobs()

    assert len(receiver.requests) == 1, "a 401 is not retried"
    channel.refresh_from_db()
    assert not channel.enabled
    assert "401" in channel.disabled_reason
    # A disabled channel receives nothing more until someone fixes or re-enables it.
    assert services.emit(private_acme, "server.down", title="down", body="again") == []


def test_passing_failure_is_retried_then_logged_and_the_channel_stays_enabled(  # type: ignore[no-untyped-def]
    private_acme, alice, receiver
) -> None:
    receiver.status = 503
    channel = _channel(private_acme, alice, f"json://127.0.0.1:{receiver.port}/x", ["server.down"])
    [delivery] = services.emit(private_acme, "server.down", title="down", body="down")

    services.deliver(delivery, retries=2, pause=0)

    delivery.refresh_from_db()
    assert len(receiver.requests) == 3
    assert delivery.attempts == 3
    assert delivery.status == DeliveryStatus.FAILED and not delivery.permanent
    assert "503" in delivery.error
    channel.refresh_from_db()
    assert channel.enabled


def test_a_second_try_that_works_counts_as_sent(private_acme, alice, receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.status = 503
    _channel(private_acme, alice, f"json://127.0.0.1:{receiver.port}/x", ["server.down"])
    [delivery] = services.emit(private_acme, "server.down", title="down", body="down")

    def heal(*args) -> None:  # type: ignore[no-untyped-def]
        receiver.status = 200

    import devflow.notifications.services as module

    original = module.time.sleep
    module.time.sleep = heal  # type: ignore[assignment]
    try:
        services.deliver(delivery, retries=2, pause=0)
    finally:
        module.time.sleep = original  # type: ignore[assignment]

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 2


def test_secrets_in_the_url_are_stored_encrypted_and_masked(private_acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = _channel(
        private_acme, alice, "json://hookuser:s3cretPassw0rd@127.0.0.1:9/x", ["server.down"]
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT url, masked_url FROM notifications_channel WHERE id = %s", [channel.pk]
        )
        stored, masked = cursor.fetchone()
    assert "s3cretPassw0rd" not in stored
    assert "s3cretPassw0rd" not in masked
    assert "****" in masked
    assert Channel.objects.get().url.startswith("json://hookuser:s3cretPassw0rd@")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "An Apprise URL starts with the service"),
        ("nonsense://x", "Apprise does not understand this nonsense:// URL"),
        ("gnome://", "gnome:// notifications are not available on a server"),
        ("slack://", "Apprise does not understand this slack:// URL"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(acme, alice, url, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(services.ChannelError, match=message):
        services.create_channel(acme, alice, name="x", url=url, events_wanted=[])
    assert not Channel.objects.exists()
