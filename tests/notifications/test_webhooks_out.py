"""Outgoing webhooks: signed JSON POSTs to a real receiver on 127.0.0.1 that checks the
signature with the code we show users, retries across time through the scheduler tick,
permanent failures, egress refusals, and the signing secret shown once on the pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from devflow.core import scheduler
from devflow.core.models import ActivityLog, Job
from devflow.notifications import services, webhook
from devflow.notifications.models import Channel, Delivery, DeliveryStatus
from tests.conftest import free_port
from tests.notifications.conftest import run_delivery_jobs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_queue")]


def _verifier() -> Any:
    """The `verify` function of the Python snippet shown on the channel page and in the docs."""
    namespace: dict[str, Any] = {}
    exec(webhook.VERIFY_PYTHON, namespace)  # our own constant: run exactly what users are shown
    return namespace["verify"]


@dataclass
class Hook:
    """A receiver that checks DevFlow-Signature with `secret`: 401 if it fails, else the
    next of `answers` (200 once they run out)."""

    port: int
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/devflow"

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        """Send a request of our own (a tampered or replayed one) and return the answer."""
        return httpx.post(self.url, content=body, headers=headers, timeout=5).status_code


@pytest.fixture
def hook() -> Iterator[Hook]:
    box = Hook(port=free_port())
    verify = _verifier()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = verify(box.secret, self.headers, body)
            status = (box.answers.pop(0) if box.answers else 200) if valid else 401
            box.requests.append(
                {"headers": dict(self.headers), "body": body, "valid": valid, "status": status}
            )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"bad signature" if not valid else b"thanks")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", box.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def _webhook(team, user, url: str, events=("deployment.failed",), name="ci hook") -> Channel:  # type: ignore[no-untyped-def]
    return services.create_channel(
        team, user, name=name, kind="webhook", url=url, events_wanted=list(events)
    )


def _signed_channel(team, user, hook: Hook, **kwargs: Any) -> Channel:  # type: ignore[no-untyped-def]
    channel = _webhook(team, user, hook.url, **kwargs)
    hook.secret = channel.signing_secret
    return channel


def _emit(team, **kwargs: Any) -> list[Delivery]:  # type: ignore[no-untyped-def]
    return services.emit(
        team, "deployment.failed", title="Deployment of shop (production) failed",
        body="npm ci exited 1", link="http://devflow.example/deployments/7/",
        data={"deployment": 7, "project": "shop"}, **kwargs,
    )  # fmt: skip


def _next_try_is_due() -> None:
    """Move every planned retry to the past, as time would (the test does not sleep)."""
    Delivery.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# Sending and signing ----------------------------------------------------------------------


def test_it_posts_signed_json_that_the_receiver_verifies(private_acme, alice, hook) -> None:  # type: ignore[no-untyped-def]
    channel = _signed_channel(private_acme, alice, hook)

    [delivery] = _emit(private_acme)
    [job] = run_delivery_jobs()

    assert job.status == "succeeded"
    [request] = hook.requests
    assert request["valid"] and request["status"] == 200
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["devflow-event"] == "deployment.failed"
    assert headers["devflow-delivery"] == str(delivery.pk)
    assert headers["content-type"] == "application/json"
    # Checked again here, independently of the snippet the receiver ran.
    expected = hmac.new(
        channel.signing_secret.encode(),
        headers["devflow-timestamp"].encode() + b"." + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert headers["devflow-signature"] == f"v1={expected}"
    payload = json.loads(request["body"])
    assert payload == {
        "id": delivery.pk,
        "event": "deployment.failed",
        "title": "Deployment of shop (production) failed",
        "body": "npm ci exited 1",
        "link": "http://devflow.example/deployments/7/",
        "team": {"id": private_acme.pk, "name": "Acme"},
        "created_at": payload["created_at"],
        "data": {"deployment": 7, "project": "shop"},
    }
    assert payload["created_at"].endswith("Z")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
    assert delivery.next_attempt_at is None
    channel.refresh_from_db()
    assert channel.last_sent_at is not None


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_is_rejected(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    _emit(private_acme)
    run_delivery_jobs()
    [request] = hook.requests
    original = {k: v for k, v in request["headers"].items() if k.lower().startswith("devflow-")}
    body = request["body"]

    tampered = body.replace(b"npm ci exited 1", b"all good, ignore")
    assert tampered != body
    assert hook.post(tampered, original) == 401

    forged = {**original, "DevFlow-Signature": webhook.sign("not-the-secret", original[
        "DevFlow-Timestamp"], body)}  # fmt: skip
    assert hook.post(body, forged) == 401

    # A copy replayed later carries its old timestamp; re-signing it needs the secret.
    old = str(int(time.time()) - 600)
    replayed = {**original, "DevFlow-Timestamp": old}
    assert hook.post(body, replayed) == 401
    stale = {**replayed, "DevFlow-Signature": webhook.sign(channel.signing_secret, old, body)}
    assert hook.post(body, stale) == 401, "correctly signed but older than 5 minutes"

    assert hook.post(body, original) == 200, "the genuine request, still fresh, passes"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_node_snippet_accepts_the_real_request_and_rejects_a_tampered_one(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    _emit(private_acme)
    run_delivery_jobs()
    [request] = hook.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    script = (
        webhook.VERIFY_NODE
        + """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const body = Buffer.from(input.body, "utf8");
const tampered = Buffer.from(input.body.replace("npm ci", "rm -rf"), "utf8");
console.log(JSON.stringify([
  verify(input.secret, input.headers, body),
  verify(input.secret, input.headers, tampered),
  verify("wrong", input.headers, body),
]));
"""
    )
    result = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(
            {"secret": channel.signing_secret, "headers": headers, "body": request["body"].decode()}
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(result.stdout) == [True, False, False]


# Retries across time ---------------------------------------------------------------------


def test_503_twice_then_200_arrives_on_the_third_try_through_the_tick(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [503, 503]
    [delivery] = _emit(private_acme)

    run_delivery_jobs()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.retrying
    assert delivery.attempts == 1
    assert "127.0.0.1 answered 503 Service Unavailable" in delivery.error
    assert delivery.next_attempt_at is not None
    # Not due yet: a tick just before that time queues nothing.
    assert services.retry_due(delivery.next_attempt_at - timedelta(seconds=1)) == []

    for tries in (2, 3):
        _next_try_is_due()
        scheduler.tick()
        [job] = run_delivery_jobs()
        assert job.status == "succeeded"
        delivery.refresh_from_db()
        assert delivery.attempts == tries

    assert delivery.status == DeliveryStatus.SENT
    assert delivery.next_attempt_at is None
    assert [r["status"] for r in hook.requests] == [503, 503, 200]
    assert all(r["valid"] for r in hook.requests), "every try is signed afresh"
    ids = {r["headers"]["DevFlow-Delivery"] for r in hook.requests}
    assert ids == {str(delivery.pk)}, "one delivery id across tries, for deduplication"
    channel.refresh_from_db()
    assert channel.enabled


def test_a_delivery_that_keeps_failing_is_given_up_after_six_tries(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [503] * 6 + [429]
    [delivery] = _emit(private_acme)

    run_delivery_jobs()
    for _ in range(5):
        _next_try_is_due()
        scheduler.tick()
        run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and not delivery.permanent
    assert delivery.attempts == 6 == len(webhook.WebhookNotifier.retry_delays) + 1
    assert "503" in delivery.error
    assert delivery.next_attempt_at is None
    assert len(hook.requests) == 6
    far = timezone.now() + timedelta(days=1)
    assert services.retry_due(far) == [], "nothing more is planned"
    channel.refresh_from_db()
    assert channel.enabled, "passing failures never disable a channel"


def test_connection_refused_is_a_passing_failure_tried_again_later(private_acme, alice) -> None:  # type: ignore[no-untyped-def]
    _webhook(private_acme, alice, f"http://127.0.0.1:{free_port()}/nobody-listens")
    [delivery] = _emit(private_acme)

    run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.retrying and delivery.attempts == 1
    assert "Could not reach 127.0.0.1" in delivery.error


@pytest.mark.parametrize("status", [429, 400, 500])
def test_other_answers_are_passing_failures_that_keep_the_channel(  # type: ignore[no-untyped-def]
    private_acme, alice, hook, status
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [status]
    [delivery] = _emit(private_acme)

    run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.retrying and f"answered {status}" in delivery.error
    channel.refresh_from_db()
    assert channel.enabled


def test_410_gone_disables_the_channel_with_its_reason(private_acme, alice, hook) -> None:  # type: ignore[no-untyped-def]
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [410]
    [delivery] = _emit(private_acme)

    run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.permanent
    assert delivery.attempts == 1 and len(hook.requests) == 1
    channel.refresh_from_db()
    assert not channel.enabled
    assert "127.0.0.1 answered 410 Gone" in channel.disabled_reason
    assert f"delivery #{delivery.pk}" in channel.disabled_reason
    assert ActivityLog.objects.filter(action="notifications.channel_disabled").exists()
    assert services.retry_due(timezone.now() + timedelta(days=1)) == []
    assert _emit(private_acme) == [], "a disabled channel receives nothing more"


def test_a_redirect_is_not_followed_and_disables_the_channel(private_acme, alice, hook) -> None:  # type: ignore[no-untyped-def]
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [308]

    _emit(private_acme)
    run_delivery_jobs()

    assert len(hook.requests) == 1
    channel.refresh_from_db()
    assert not channel.enabled and "give the final URL" in channel.disabled_reason


def test_a_failed_test_message_is_not_retried_and_keeps_the_channel(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [503]

    delivery = services.send_test(channel, alice)
    run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "503" in delivery.error
    assert json.loads(hook.requests[0]["body"])["event"] == "test"
    channel.refresh_from_db()
    assert channel.enabled


# Claims: two schedulers, two jobs ------------------------------------------------------


def test_two_schedulers_claim_a_due_delivery_once(private_acme, alice, hook) -> None:  # type: ignore[no-untyped-def]
    _signed_channel(private_acme, alice, hook)
    hook.answers = [503]
    [delivery] = _emit(private_acme)
    run_delivery_jobs()
    _next_try_is_due()
    # Both schedulers read the row before either claims it.
    first, second = Delivery.objects.get(pk=delivery.pk), Delivery.objects.get(pk=delivery.pk)
    now = timezone.now()

    assert services.claim(first, now) is True
    assert services.claim(second, now) is False
    assert services.retry_due(now) == [], "claimed: not due again until its lease ends"


def test_a_second_job_with_the_same_delivery_does_not_repeat_the_try(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    _signed_channel(private_acme, alice, hook)
    hook.answers = [503]
    [delivery] = _emit(private_acme)
    services._queue(private_acme, [delivery])  # e.g. a tick that thought the first job lost

    jobs = run_delivery_jobs()

    assert len(jobs) == 2 and all(job.status == "succeeded" for job in jobs)
    assert len(hook.requests) == 1, "the second job found the try taken"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.retrying


def test_a_lost_job_is_queued_again_by_the_tick_when_its_lease_ends(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    _signed_channel(private_acme, alice, hook)
    [delivery] = _emit(private_acme)
    Job.objects.filter(kind="notifications.deliver").update(status="failed")  # never ran

    _next_try_is_due()
    assert services.retry_due() == [delivery.pk]
    run_delivery_jobs()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and len(hook.requests) == 1


# Egress ----------------------------------------------------------------------------------


def test_a_private_address_is_refused_unless_the_team_allows_it(acme, alice, hook) -> None:  # type: ignore[no-untyped-def]
    channel = _signed_channel(acme, alice, hook)

    [refused] = _emit(acme)
    run_delivery_jobs()

    assert hook.requests == []
    refused.refresh_from_db()
    assert refused.status == DeliveryStatus.FAILED and refused.permanent
    assert "127.0.0.1 is this machine (loopback); an owner can allow private" in refused.error
    channel.refresh_from_db()
    assert not channel.enabled and "loopback" in channel.disabled_reason

    acme.allow_private_egress = True
    acme.save(update_fields=["allow_private_egress"])
    services.enable(channel, alice)
    [allowed] = _emit(acme)
    run_delivery_jobs()

    allowed.refresh_from_db()
    assert allowed.status == DeliveryStatus.SENT and len(hook.requests) == 1


def test_a_metadata_address_is_refused_even_when_private_ones_are_allowed(  # type: ignore[no-untyped-def]
    private_acme, alice
) -> None:
    channel = _webhook(private_acme, alice, "http://169.254.169.254/latest/meta-data")

    [delivery] = _emit(private_acme)
    run_delivery_jobs()

    delivery.refresh_from_db()
    assert "169.254.169.254 is a cloud metadata address" in delivery.error
    channel.refresh_from_db()
    assert not channel.enabled


# Channels and their secret ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Give the webhook's URL"),
        ("ftp://files.example.com/in", "A webhook URL starts with https:// (or http://)"),
        ("hooks.example.com/devflow", "A webhook URL starts with https://"),
        ("https:///devflow", "A webhook URL needs a host"),
        ("https://hooks.example.com:99999/x", "This is not a URL"),
    ],
)
def test_bad_webhook_urls_are_refused_with_a_reason(acme, alice, url, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(services.ChannelError, match=re.escape(message)):
        _webhook(acme, alice, url)
    assert not Channel.objects.exists()


def test_an_unknown_kind_is_refused(acme, alice) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(services.ChannelError, match="Unknown kind of channel 'pigeon'"):
        services.create_channel(
            acme, alice, name="x", kind="pigeon", url="https://x.example", events_wanted=[]
        )


def test_the_url_is_masked_and_url_and_secret_are_stored_encrypted(acme, alice) -> None:  # type: ignore[no-untyped-def]
    url = "https://bot:Pa55word@hooks.example.com/in/9f2c4e7a1b3d5f6a8c0e?token=t0ken-value"
    channel = _webhook(acme, alice, url)

    assert channel.service == "Webhook"
    assert channel.masked_url == "https://bot:****@hooks.example.com/in/****?token=****"
    assert len(channel.signing_secret) >= 43
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT url, signing_secret FROM notifications_channel WHERE id = %s", [channel.pk]
        )
        stored_url, stored_secret = cursor.fetchone()
    assert "Pa55word" not in stored_url
    assert channel.signing_secret not in stored_secret
    assert Channel.objects.get().signing_secret == channel.signing_secret


def test_regenerating_gives_a_new_secret_and_the_old_one_stops_verifying(  # type: ignore[no-untyped-def]
    private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    old = channel.signing_secret

    new = services.regenerate_secret(channel, alice)
    _emit(private_acme)
    run_delivery_jobs()  # the receiver still holds the old secret

    assert new != old and Channel.objects.get().signing_secret == new
    assert hook.requests[0]["valid"] is False
    assert ActivityLog.objects.filter(action="notifications.channel_secret_regenerated").exists()


def test_an_apprise_channel_has_no_secret_and_keeps_its_in_job_retries(acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="json", url="json://127.0.0.1:9/x", events_wanted=["server.down"]
    )
    assert channel.kind == "apprise" and channel.signing_secret == ""
    with pytest.raises(services.ChannelError, match="has no signing secret"):
        services.regenerate_secret(channel, alice)
    [delivery] = services.emit(acme, "server.down", title="down", body="down")
    assert delivery.next_attempt_at is None
    assert Job.objects.get().params == {"delivery_ids": [delivery.pk]}


# Pages -----------------------------------------------------------------------------------


def _pages(client, channel: Channel) -> list[str]:  # type: ignore[no-untyped-def]
    paths = [
        reverse("notifications:channels"),
        reverse("notifications:channel", args=[channel.pk]),
        reverse("notifications:deliveries"),
        "/api/v1/channels/",
        f"/api/v1/channels/{channel.pk}/",
        "/api/v1/notification-deliveries/",
    ]
    return [client.get(path).content.decode() for path in paths]


def test_the_add_form_has_a_kind_switch(alice_client, acme) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(reverse("notifications:channels")).content.decode()
    assert 'data-testid="kind-switch"' in page
    assert 'name="kind" value="apprise"' in page and 'name="kind" value="webhook"' in page
    assert "Webhook URL" in page and "Apprise URL" in page
    assert 'data-testid="url-help-webhook"' in page


def test_the_secret_is_shown_once_when_added_and_once_when_regenerated(  # type: ignore[no-untyped-def]
    alice_client, private_acme, hook
) -> None:
    response = alice_client.post(
        reverse("notifications:channels"),
        {"name": "ci hook", "kind": "webhook", "url": hook.url, "events": ["server.down"]},
    )
    channel = Channel.objects.get()
    first = channel.signing_secret
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert first in page and "you will not see it again" in page
    assert channel.kind == "webhook" and channel.masked_url == hook.url

    hook.secret = first
    alice_client.post(reverse("notifications:channel_test", args=[channel.pk]))
    run_delivery_jobs()
    assert hook.requests[0]["valid"]

    detail = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "Signing secret: regenerate" in detail
    assert 'data-testid="verify-snippet"' in detail and "hmac.compare_digest" in detail
    assert "crypto.timingSafeEqual" in detail
    for page in _pages(alice_client, channel):
        assert first not in page

    response = alice_client.post(reverse("notifications:channel_secret", args=[channel.pk]))
    channel.refresh_from_db()
    second = channel.signing_secret
    assert response.status_code == 200 and second != first
    assert second in response.content.decode()
    assert "The old secret stopped working" in response.content.decode()
    for page in _pages(alice_client, channel):
        assert first not in page and second not in page
    assert (
        alice_client.get(reverse("notifications:channel_secret", args=[channel.pk])).status_code
        == 405
    )


def test_editing_a_webhook_keeps_its_kind_and_secret(alice_client, acme, alice) -> None:  # type: ignore[no-untyped-def]
    channel = _webhook(acme, alice, "https://hooks.example.com/a")
    secret = channel.signing_secret

    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert 'data-testid="kind-switch"' not in page and "Webhook URL" in page
    alice_client.post(
        reverse("notifications:channel", args=[channel.pk]),
        {"name": "renamed", "kind": "apprise", "url": "https://hooks.example.com/b", "events": []},
    )

    channel.refresh_from_db()
    assert channel.name == "renamed" and channel.kind == "webhook"
    assert channel.url == "https://hooks.example.com/b" and channel.signing_secret == secret


def test_a_retrying_delivery_says_so_without_refreshing_the_page(  # type: ignore[no-untyped-def]
    alice_client, private_acme, alice, hook
) -> None:
    channel = _signed_channel(private_acme, alice, hook)
    hook.answers = [503]
    _emit(private_acme)
    run_delivery_jobs()

    page = alice_client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert 'data-testid="retrying"' in page and "next try" in page
    assert "503 Service Unavailable" in page
    assert 'http-equiv="refresh"' not in page


def test_only_maintainers_regenerate_and_other_teams_get_a_404(  # type: ignore[no-untyped-def]
    client, acme, alice, bob, charlie
) -> None:
    channel = _webhook(acme, alice, "https://hooks.example.com/a")
    secret = channel.signing_secret
    url = reverse("notifications:channel_secret", args=[channel.pk])

    client.force_login(bob)
    assert client.post(url).status_code == 403
    page = client.get(reverse("notifications:channel", args=[channel.pk])).content.decode()
    assert "Signing secret: regenerate" not in page and secret not in page
    client.force_login(charlie)
    assert client.post(url).status_code == 404

    channel.refresh_from_db()
    assert channel.signing_secret == secret


def test_the_docs_show_the_same_verification_code_as_the_page() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
    assert webhook.VERIFY_PYTHON in docs and webhook.VERIFY_NODE in docs
    assert "## Outgoing webhooks" in docs
