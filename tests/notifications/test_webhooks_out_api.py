"""The channels API for webhooks: `kind` on create, the signing secret in the create and
regenerate answers only (never afterwards, not even with read:secrets), roles, the log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from devflow.accounts import api_tokens
from devflow.accounts.models import User
from devflow.notifications import services
from devflow.notifications.models import Channel, Delivery, DeliveryStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_queue")]

URL = "https://hooks.example.com/devflow?token=Sup3rSecretTok"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def token() -> Callable[..., APIClient]:
    """`token(user, "read", "write")`: a client with a new token of those scopes."""

    def make(user: User, *scopes: str) -> APIClient:
        client = APIClient()
        made = api_tokens.create(user, "test", list(scopes) or ["read"])
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.token}")
        return client

    return make


def _create(client: APIClient, team_id: int, **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/channels/",
        {"team": team_id, "name": "ci hook", "kind": "webhook", "url": URL, **body},
        format="json",
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def _everything_readable(client: APIClient, channel_id: int) -> str:
    paths = [
        "/api/v1/channels/",
        f"/api/v1/channels/{channel_id}/",
        "/api/v1/channels/?kind=webhook",
        "/api/v1/notification-deliveries/",
    ]
    return "".join(client.get(path).content.decode() for path in paths)


def test_the_secret_is_in_the_create_answer_only(token, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = token(alice, "read", "write", "read:secrets")

    body = _create(client, acme.pk)

    channel = Channel.objects.get()
    assert body["kind"] == "webhook" and body["service"] == "Webhook"
    assert body["signing_secret"] == channel.signing_secret and len(body["signing_secret"]) >= 43
    assert "url" in body and body["masked_url"].endswith("?token=****")
    read = _everything_readable(client, channel.pk)
    assert channel.signing_secret not in read
    assert "signing_secret" not in read
    assert client.get(f"/api/v1/channels/{channel.pk}/").json()["url"] == URL, (
        "read:secrets reads the URL back, never the signing secret"
    )
    response = client.patch(f"/api/v1/channels/{channel.pk}/", {"name": "hook 2"}, format="json")
    assert response.status_code == 200 and channel.signing_secret not in response.content.decode()
    response = client.post(f"/api/v1/channels/{channel.pk}/enable/")
    assert response.status_code == 200 and channel.signing_secret not in response.content.decode()


def test_regenerating_answers_the_new_secret_once(token, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = token(alice, "read", "write")
    first = _create(client, acme.pk)["signing_secret"]
    channel = Channel.objects.get()

    response = client.post(f"/api/v1/channels/{channel.pk}/regenerate-secret/")

    assert response.status_code == 200
    second = response.json()["signing_secret"]
    channel.refresh_from_db()
    assert second == channel.signing_secret != first
    read = _everything_readable(client, channel.pk)
    assert first not in read and second not in read


def test_an_apprise_channel_is_the_default_and_has_no_secret(token, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = token(alice, "read", "write")
    response = client.post(
        "/api/v1/channels/",
        {"team": acme.pk, "name": "json", "url": "json://127.0.0.1:9/x"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "apprise" and response.json()["signing_secret"] == ""
    channel = Channel.objects.get()
    response = client.post(f"/api/v1/channels/{channel.pk}/regenerate-secret/")
    assert response.status_code == 400
    assert "has no signing secret" in response.content.decode()


def test_bad_kind_url_or_a_change_of_kind_is_refused(token, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = token(alice, "read", "write")
    response = client.post(
        "/api/v1/channels/",
        {"team": acme.pk, "name": "x", "kind": "pigeon", "url": URL},
        format="json",
    )
    assert response.status_code == 400 and "kind" in response.json()["errors"]
    response = client.post(
        "/api/v1/channels/",
        {"team": acme.pk, "name": "x", "kind": "webhook", "url": "ftp://files.example.com"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "non_field_errors": ["A webhook URL starts with https:// (or http://)."]
    }
    assert not Channel.objects.exists()

    _create(client, acme.pk)
    channel = Channel.objects.get()
    response = client.patch(f"/api/v1/channels/{channel.pk}/", {"kind": "apprise"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "kind": ["A channel keeps its kind; add a new channel instead."]
    }
    channel.refresh_from_db()
    assert channel.kind == "webhook"


def test_a_deployer_cannot_regenerate_and_another_team_gets_a_404(  # type: ignore[no-untyped-def]
    token, alice, bob, charlie, acme
) -> None:
    channel = services.create_channel(
        acme, alice, name="ci hook", kind="webhook", url=URL, events_wanted=[]
    )
    secret = channel.signing_secret
    path = f"/api/v1/channels/{channel.pk}/regenerate-secret/"

    assert token(bob, "read", "write").post(path).status_code == 403
    assert token(charlie, "read", "write").post(path).status_code == 404

    channel.refresh_from_db()
    assert channel.signing_secret == secret


def test_the_delivery_log_shows_a_planned_retry(token, alice, acme) -> None:  # type: ignore[no-untyped-def]
    channel = services.create_channel(
        acme, alice, name="ci hook", kind="webhook", url=URL, events_wanted=["server.down"]
    )
    [delivery] = services.emit(acme, "server.down", title="down", body="web-1 is down")
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=1, error="hooks.example.com answered 503"
    )

    body = token(alice, "read").get(f"/api/v1/notification-deliveries/{delivery.pk}/").json()

    assert body["status"] == DeliveryStatus.PENDING and body["attempts"] == 1
    assert body["next_attempt_at"] is not None
    assert channel.signing_secret not in str(body)
