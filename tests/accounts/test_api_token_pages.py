"""Profile → API tokens: create (shown once), list, revoke, and the form's errors."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from devflow.accounts import api_tokens
from devflow.accounts.models import ApiToken
from devflow.core.models import ActivityLog

pytestmark = pytest.mark.django_db

URL = "/profile/tokens/"
TOKEN = re.compile(r"dfp_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def create(client: Client, **fields: object) -> str:
    data = {"name": "ci deploys", "scopes": ["read", "deploy"], "expiry": "90", **fields}
    return client.post(URL, data).content.decode()


def test_it_shows_a_new_token_once_and_the_token_works(alice) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(alice)
    response = client.post(URL, {"name": "ci deploys", "scopes": ["read", "deploy"],
                                 "expiry": "90"})  # fmt: skip
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "you will not see it again" in page and "Copy" in page
    token = TOKEN.search(page)
    assert token is not None
    me = bearer(token.group()).get("/api/v1/me/").json()
    assert me["username"] == "alice"
    assert me["token"]["scopes"] == ["read", "deploy"]
    assert me["token"]["expires_at"] is not None
    row = ApiToken.objects.get(user=alice)
    assert row.name == "ci deploys"
    assert token.group() not in str(dict(client.session))
    audit = ActivityLog.objects.get(action="api_token.created")
    assert token.group() not in str(audit.details)


def test_the_list_never_shows_the_token_again(alice) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(alice)
    token = TOKEN.search(create(client))
    assert token is not None
    listing = client.get(URL).content.decode()
    secret = token.group()
    assert secret not in listing and secret[len("dfp_") + 8 :] not in listing
    row = ApiToken.objects.get(user=alice)
    assert f"{row.prefix}…" in listing
    assert "ci deploys" in listing and "read, deploy" in listing
    assert 'badge-green">active' in listing
    assert TOKEN.search(listing) is None


def test_the_profile_page_links_to_the_tokens_page(alice) -> None:  # type: ignore[no-untyped-def]
    assert 'href="/profile/tokens/"' in signed_in(alice).get("/profile/").content.decode()


def test_last_use_and_its_address_are_listed(alice) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(alice, "laptop", ["read"])
    bearer(made.token).get("/api/v1/me/", REMOTE_ADDR="203.0.113.7")
    listing = signed_in(alice).get(URL).content.decode()
    assert "203.0.113.7" in listing


def test_revoking_makes_the_token_a_401_and_lists_it_as_revoked(alice) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(alice, "old laptop", ["read"])
    assert bearer(made.token).get("/api/v1/me/").status_code == 200
    client = signed_in(alice)
    response = client.post(f"{URL}{made.row.pk}/revoke/")
    assert response.status_code == 302
    assert bearer(made.token).get("/api/v1/me/").status_code == 401
    made.row.refresh_from_db()
    assert made.row.revoked_reason == "revoked by hand"
    listing = client.get(URL).content.decode()
    assert "revoked" in listing and "revoked by hand" in listing
    assert f"{URL}{made.row.pk}/revoke/" not in listing


def test_a_password_change_is_shown_as_the_reason(alice) -> None:  # type: ignore[no-untyped-def]
    api_tokens.create(alice, "ci", ["read"])
    alice.set_password("a-new-long-password-2")
    alice.save()
    client = signed_in(alice)
    assert "the password changed" in client.get(URL).content.decode()


def test_another_users_token_cannot_be_revoked(alice, charlie) -> None:  # type: ignore[no-untyped-def]
    theirs = api_tokens.create(charlie, "charlie's", ["read"])
    response = signed_in(alice).post(f"{URL}{theirs.row.pk}/revoke/")
    assert response.status_code == 404
    theirs.row.refresh_from_db()
    assert theirs.row.revoked_at is None
    assert bearer(theirs.token).get("/api/v1/me/").status_code == 200
    assert "charlie" not in signed_in(alice).get(URL).content.decode()


def test_revoking_needs_a_post(alice) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(alice, "ci", ["read"])
    assert signed_in(alice).get(f"{URL}{made.row.pk}/revoke/").status_code == 405
    made.row.refresh_from_db()
    assert made.row.revoked_at is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"scopes": []}, "Choose at least one scope."),
        ({"scopes": ["root"]}, "Select a valid choice."),
        ({"expiry": "date", "expires_on": ""}, "Pick the day the token stops working."),
        ({"expiry": "date", "expires_on": "2001-01-01"}, "Pick a day after today."),
        ({"expiry": "forever"}, "Select a valid choice."),
    ],
)
def test_bad_input_keeps_the_form_with_an_error(alice, fields, message) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(alice)
    data = {"name": "ci deploys", "scopes": ["read"], "expiry": "30", **fields}
    response = client.post(URL, data)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert 'data-testid="api-token-form"' in page
    assert TOKEN.search(page) is None
    assert not ApiToken.objects.exists()


def test_a_service_refusal_is_shown_on_the_form(alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(api_tokens, "MAX_TOKENS_PER_USER", 1)
    client = signed_in(alice)
    create(client)
    response = client.post(URL, {"name": "second", "scopes": ["read"], "expiry": "never"})
    assert response.status_code == 400
    assert "revoke some first" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_never_and_a_date_set_the_expiry(alice) -> None:  # type: ignore[no-untyped-def]
    client = signed_in(alice)
    create(client, name="forever", expiry="never")
    create(client, name="dated", expiry="date", expires_on="2999-12-31")
    assert ApiToken.objects.get(name="forever").expires_at is None
    dated = ApiToken.objects.get(name="dated").expires_at
    assert dated is not None and dated.year == 2999


def test_the_page_needs_a_signed_in_user(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]
