"""The API's shared rules: tokens and scopes, team scope, errors, limits, idempotency, schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from devflow.accounts import api_tokens
from devflow.accounts import services as account_services
from devflow.accounts.models import ApiToken, Membership
from devflow.core.models import Job
from devflow.servers.models import Server, SshKey
from tests.api.conftest import problem_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def web1(acme, alice) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5", created_by=alice)


@pytest.fixture
def theirs(globex, charlie) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=globex, name="their-1", host="10.9.9.9", created_by=charlie)


def test_without_a_token_it_is_401_in_problem_json(api) -> None:  # type: ignore[no-untyped-def]
    response = api().get("/api/v1/servers/")
    assert response.status_code == 401
    assert "credentials were not provided" in problem_of(response)["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_lists_only_its_users_teams(api, alice, web1, theirs) -> None:  # type: ignore[no-untyped-def]
    body = api(alice, "read").get("/api/v1/servers/").json()
    assert [s["name"] for s in body["results"]] == ["web-1"]
    assert body["count"] == 1


def test_another_teams_object_is_a_404(api, alice, theirs) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write", "deploy")
    for response in (
        client.get(f"/api/v1/servers/{theirs.pk}/"),
        client.patch(f"/api/v1/servers/{theirs.pk}/", {"name": "mine"}, format="json"),
        client.delete(f"/api/v1/servers/{theirs.pk}/"),
        client.post(f"/api/v1/servers/{theirs.pk}/check/"),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    theirs.refresh_from_db()
    assert theirs.name == "their-1"


def test_a_scope_too_small_is_403_and_says_which(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read").delete(f"/api/v1/servers/{web1.pk}/")
    assert response.status_code == 403
    assert "lacks the “write” scope" in problem_of(response)["detail"]
    response = api(alice, "read").post(f"/api/v1/servers/{web1.pk}/check/")
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    assert Server.objects.filter(pk=web1.pk).exists()
    assert not Job.objects.exists()


def test_a_role_too_low_is_403_even_with_every_scope(api, bob, web1) -> None:  # type: ignore[no-untyped-def]
    client = api(bob, "read", "deploy", "write", "admin")
    response = client.delete(f"/api/v1/servers/{web1.pk}/")
    assert response.status_code == 403
    assert problem_of(response)["detail"] == "Your role in this team does not allow this."
    assert client.post(f"/api/v1/servers/{web1.pk}/check/").status_code == 202


def test_revoked_expired_and_wrong_tokens_are_401(api, alice) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(alice, "ci", ["read"])
    assert api(token=made.token).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=made.row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(token=made.token).get("/api/v1/me/")
    assert response.status_code == 401
    assert "unknown, revoked or expired" in problem_of(response)["detail"]
    other = api_tokens.create(alice, "ci2", ["read"])
    api_tokens.revoke(alice, other.row)
    assert api(token=other.token).get("/api/v1/me/").status_code == 401
    assert api(token=other.token[:-2] + "xx").get("/api/v1/me/").status_code == 401


def test_a_password_change_revokes_the_users_tokens(api, alice) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(alice, "ci", ["read"])
    alice.set_password("another-long-password-1")
    alice.save()
    assert api(token=made.token).get("/api/v1/me/").status_code == 401
    made.row.refresh_from_db()
    assert made.row.revoked_reason == "the password changed"


def test_a_role_change_revokes_the_members_tokens(api, alice, bob, acme) -> None:  # type: ignore[no-untyped-def]
    made = api_tokens.create(bob, "ci", ["read", "deploy"])
    membership = Membership.objects.get(user=bob, team=acme)
    account_services.change_role(alice, membership, "viewer")
    assert api(token=made.token).get("/api/v1/me/").status_code == 401


def test_wrong_tokens_from_one_address_are_throttled(api, alice, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVFLOW_API_BAD_TOKENS_PER_MINUTE = 3
    for _ in range(3):
        assert api(token="dfp_wrongwrongwrong").get("/api/v1/me/").status_code == 401
    response = api(token="dfp_wrongwrongwrong").get("/api/v1/me/")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert problem_of(response)["retry_after"] == 60


def test_requests_over_the_rate_get_429_with_retry_after(api, alice, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVFLOW_API_RATE_PER_TOKEN = "3/min"
    client = api(alice, "read")
    for _ in range(3):
        assert client.get("/api/v1/me/").status_code == 200
    response = client.get("/api/v1/me/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    problem_of(response)


def test_malformed_json_unknown_fields_and_wrong_types_say_what_is_wrong(  # type: ignore[no-untyped-def]
    api, alice, web1
) -> None:
    client = api(alice, "read", "write")
    response = client.patch(
        f"/api/v1/servers/{web1.pk}/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in problem_of(response)["detail"]
    response = client.patch(f"/api/v1/servers/{web1.pk}/", {"colour": "red"}, format="json")
    assert problem_of(response)["errors"] == {"colour": ["Unknown field."]}
    response = client.patch(f"/api/v1/servers/{web1.pk}/", {"port": "twenty-two"}, format="json")
    assert "port" in problem_of(response)["errors"]
    web1.refresh_from_db()
    assert web1.port == 22


def test_a_huge_body_is_413(api, alice, web1, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api(alice, "write").patch(
        f"/api/v1/servers/{web1.pk}/", {"name": "x" * 5000}, format="json"
    )
    assert response.status_code == 413
    problem_of(response)


def test_unknown_paths_are_problem_json_404s(api, alice) -> None:  # type: ignore[no-untyped-def]
    response = api(alice).get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert "no API endpoint at /api/v1/nothing-here/" in problem_of(response)["detail"]


def test_an_idempotency_key_replays_and_refuses_another_body(api, alice, acme, web1) -> None:  # type: ignore[no-untyped-def]
    key = SshKey.objects.create(team=acme, name="k", algorithm="ed25519", public_key="x",
                                fingerprint="SHA256:x")  # fmt: skip
    client = api(alice, "read", "write")
    body = {"team": acme.pk, "name": "web-2", "host": "10.0.0.6", "ssh_key": key.pk}
    first = client.post("/api/v1/servers/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    again = client.post("/api/v1/servers/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Server.objects.filter(name="web-2").count() == 1
    assert Job.objects.filter(kind="servers.check").count() == 1
    other = client.post(
        "/api/v1/servers/", {**body, "name": "web-3"}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert other.status_code == 422
    assert "used with another request" in problem_of(other)["detail"]
    assert not Server.objects.filter(name="web-3").exists()


def test_tokens_are_made_once_and_listed_without_the_secret(api, alice) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "admin")
    made = client.post("/api/v1/tokens/", {"name": "deploy bot", "scopes": ["read", "deploy"]},
                       format="json")  # fmt: skip
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("dfp_")
    listing = client.get("/api/v1/tokens/").content.decode()
    assert token not in listing and token[len("dfp_") + 8 :] not in listing
    assert api(token=token).get("/api/v1/me/").json()["token"]["scopes"] == ["read", "deploy"]
    assert api(alice, "read").post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"]},
                                   format="json").status_code == 403  # fmt: skip


def test_the_session_works_for_the_pages_own_calls_with_csrf(client, alice, web1) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.get("/api/v1/servers/").status_code == 200
    response = strict.patch(
        f"/api/v1/servers/{web1.pk}/", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in problem_of(response)["detail"]


def test_schema_and_docs_pages_are_served_without_a_cdn(client, alice) -> None:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/servers/" in paths and "/api/v1/servers/{id}/check/" in paths
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()
    redoc = client.get("/api/v1/redoc/").content.decode()
    assert "redoc" in redoc.lower() and "cdn." not in redoc.lower()


def test_changes_made_through_the_api_are_logged_as_api(api, alice, web1) -> None:  # type: ignore[no-untyped-def]
    from devflow.core.models import ActivityLog

    assert api(alice, "read", "write").delete(f"/api/v1/servers/{web1.pk}/").status_code == 204
    entry = ActivityLog.objects.get(action="server.deleted")
    assert entry.source == "api"
    assert entry.actor == alice
