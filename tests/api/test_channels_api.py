"""The notifications API: channels through `services` (the URL stays write-only without
read:secrets), test and enable, and the delivery log; the pages' roles and team scope."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from devflow.accounts import services as account_services
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User
from devflow.core.models import Job
from devflow.notifications import services
from devflow.notifications.models import Channel, Delivery, DeliveryStatus
from tests.api.conftest import problem_of

pytestmark = pytest.mark.django_db

SECRET = "Sup3rSecretPw"
URL = f"json://user:{SECRET}@127.0.0.1:9/in"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture(autouse=True)
def _jobs_stay_here(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


def member(team: Team, name: str, role: str) -> User:
    user = account_services.create_user(
        username=name, email=f"{name}@example.com", password="correct horse battery staple"
    )
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def ops(acme, alice) -> Channel:  # type: ignore[no-untyped-def]
    return services.create_channel(
        acme, alice, name="ops", url=URL, events_wanted=["alert.triggered", "health.down"]
    )


@pytest.fixture
def theirs(globex, charlie) -> Channel:  # type: ignore[no-untyped-def]
    return services.create_channel(
        globex, charlie, name="theirs", url="json://127.0.0.1:9/x", events_wanted=["server.down"]
    )


def test_adding_a_channel_never_reads_the_url_back(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    response = client.post(
        "/api/v1/channels/",
        {"team": acme.pk, "name": "hook", "url": URL, "events": ["alert.triggered"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "url" not in body
    assert body["masked_url"].startswith("json://user:****@127.0.0.1")
    assert body["events"] == ["alert.triggered"] and body["enabled"] is True
    channel = Channel.objects.get()
    assert channel.url == URL and channel.created_by == alice
    for path in ("/api/v1/channels/", f"/api/v1/channels/{channel.pk}/"):
        assert SECRET not in client.get(path).content.decode()
    response = client.patch(f"/api/v1/channels/{channel.pk}/", {"name": "hook 2"}, format="json")
    assert response.status_code == 200 and SECRET not in response.content.decode()
    response = client.post(f"/api/v1/channels/{channel.pk}/enable/")
    assert response.status_code == 200 and SECRET not in response.content.decode()


def test_the_url_is_read_back_only_with_read_secrets(api, alice, ops) -> None:  # type: ignore[no-untyped-def]
    body = api(alice, "read", "read:secrets").get(f"/api/v1/channels/{ops.pk}/").json()
    assert body["url"] == URL
    assert "****" in body["masked_url"]


def test_the_pages_own_session_calls_never_read_the_url_back(client, alice, ops) -> None:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    for path in ("/api/v1/channels/", f"/api/v1/channels/{ops.pk}/"):
        response = client.get(path)
        assert response.status_code == 200
        assert SECRET not in response.content.decode()


def test_a_channel_left_without_events_gets_the_default_ones(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").post(
        "/api/v1/channels/", {"team": acme.pk, "name": "hook", "url": URL}, format="json"
    )
    assert response.status_code == 201
    assert "health.down" in response.json()["events"]
    assert "deployment.succeeded" not in response.json()["events"]


def test_bad_input_answers_the_services_message_and_saves_nothing(api, alice, acme, ops) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    cases = [
        ({"name": "hook", "url": "no scheme here"},
         "An Apprise URL starts with the service, e.g. slack:// or mailto://."),
        ({"name": "ops", "url": URL}, "Acme already has a channel called ops."),
        ({"name": "hook", "url": URL, "events": ["alert.triggered", "nope"]},
         "Unknown events: nope."),
        ({"name": " ", "url": URL}, "Give the channel a name."),
    ]  # fmt: skip
    for body, message in cases:
        response = client.post("/api/v1/channels/", {"team": acme.pk, **body}, format="json")
        assert response.status_code == 400
        assert problem_of(response)["errors"] == {"non_field_errors": [message]}
        assert SECRET not in response.content.decode()
    response = client.patch(f"/api/v1/channels/{ops.pk}/", {"url": "syslog://x"}, format="json")
    assert response.status_code == 400
    assert "not available on a server" in problem_of(response)["errors"]["non_field_errors"][0]
    assert list(Channel.objects.values_list("name", flat=True)) == ["ops"]
    ops.refresh_from_db()
    assert ops.url == URL


def test_a_change_without_a_url_keeps_it_and_a_new_url_enables_again(api, alice, ops) -> None:  # type: ignore[no-untyped-def]
    services.disable(ops, reason="The service answered 401")
    client = api(alice, "read", "write")
    response = client.patch(f"/api/v1/channels/{ops.pk}/", {"events": ["server.down"]},
                            format="json")  # fmt: skip
    assert response.json()["enabled"] is False and response.json()["events"] == ["server.down"]
    ops.refresh_from_db()
    assert ops.url == URL
    response = client.patch(
        f"/api/v1/channels/{ops.pk}/", {"url": "json://127.0.0.1:9/new"}, format="json"
    )
    assert response.json()["enabled"] is True
    assert response.json()["masked_url"] == "json://127.0.0.1:9/new"


def test_a_test_is_queued_and_answers_202_with_the_delivery(api, alice, ops) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    response = client.post(f"/api/v1/channels/{ops.pk}/test/")
    assert response.status_code == 202
    body = response.json()
    delivery = Delivery.objects.get()
    assert body["id"] == delivery.pk and body["is_test"] is True
    assert body["status"] == DeliveryStatus.PENDING and body["channel"] == ops.pk
    assert Job.objects.get().params == {"delivery_ids": [delivery.pk]}
    assert SECRET not in response.content.decode()


def test_too_many_tests_in_a_minute_are_refused_with_the_services_message(  # type: ignore[no-untyped-def]
    api, alice, ops
) -> None:
    client = api(alice, "read", "write")
    for _ in range(services.TESTS_PER_MINUTE):
        assert client.post(f"/api/v1/channels/{ops.pk}/test/").status_code == 202
    response = client.post(f"/api/v1/channels/{ops.pk}/test/")
    assert response.status_code == 429
    assert problem_of(response)["detail"].startswith("That is enough tests for one minute")
    assert Delivery.objects.count() == services.TESTS_PER_MINUTE


def test_enable_turns_a_disabled_channel_back_on(api, alice, ops) -> None:  # type: ignore[no-untyped-def]
    services.disable(ops, reason="The service answered 401")
    response = api(alice, "read", "write").post(f"/api/v1/channels/{ops.pk}/enable/")
    assert response.status_code == 200
    assert response.json()["enabled"] is True and response.json()["disabled_reason"] == ""
    ops.refresh_from_db()
    assert ops.enabled


def test_deployers_and_viewers_read_but_cannot_change(api, acme, bob, ops) -> None:  # type: ignore[no-untyped-def]
    victor = member(acme, "victor", Role.VIEWER)
    for user in (bob, victor):
        client = api(user, "read", "write", "deploy", "admin")
        assert client.get(f"/api/v1/channels/{ops.pk}/").status_code == 200
        assert client.get("/api/v1/notification-deliveries/").status_code == 200
        for response in (
            client.post("/api/v1/channels/", {"team": acme.pk, "name": "x", "url": URL},
                        format="json"),
            client.patch(f"/api/v1/channels/{ops.pk}/", {"name": "x"}, format="json"),
            client.post(f"/api/v1/channels/{ops.pk}/test/"),
            client.post(f"/api/v1/channels/{ops.pk}/enable/"),
            client.delete(f"/api/v1/channels/{ops.pk}/"),
        ):  # fmt: skip
            assert response.status_code == 403
            assert "does not allow this" in problem_of(response)["detail"]
    assert list(Channel.objects.values_list("name", flat=True)) == ["ops"]
    assert not Delivery.objects.exists()


def test_a_scope_too_small_is_403(api, alice, ops) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    for response in (
        client.post(f"/api/v1/channels/{ops.pk}/test/"),
        client.delete(f"/api/v1/channels/{ops.pk}/"),
    ):
        assert response.status_code == 403
        assert "lacks the “write” scope" in problem_of(response)["detail"]
    assert Channel.objects.filter(pk=ops.pk).exists() and not Delivery.objects.exists()


def test_another_teams_channel_is_a_404_on_every_route(api, alice, theirs) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write", "read:secrets")
    base = f"/api/v1/channels/{theirs.pk}/"
    for response in (
        client.get(base),
        client.put(base, {"name": "mine", "events": []}, format="json"),
        client.patch(base, {"name": "mine"}, format="json"),
        client.delete(base),
        client.post(base + "test/"),
        client.post(base + "enable/"),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    theirs.refresh_from_db()
    assert theirs.name == "theirs" and not Delivery.objects.exists()
    assert client.get("/api/v1/channels/").json()["count"] == 0


def test_deliveries_are_listed_filtered_and_only_my_teams(api, alice, acme, ops, theirs) -> None:  # type: ignore[no-untyped-def]
    services.emit(acme, "alert.triggered", title="CPU", body="high")
    services.send_test(ops, alice)
    their_delivery = services.send_test(theirs, alice)
    Delivery.objects.filter(event="test").update(status=DeliveryStatus.FAILED, error="refused")
    client = api(alice, "read")

    def events(query: str) -> list[str]:
        rows = client.get(f"/api/v1/notification-deliveries/?{query}").json()["results"]
        return sorted(row["event"] for row in rows)

    assert events("") == ["alert.triggered", "test"]
    assert events("status=failed") == ["test"]
    assert events("event=alert.triggered") == ["alert.triggered"]
    assert events(f"channel={ops.pk}") == ["alert.triggered", "test"]
    assert events("is_test=false") == ["alert.triggered"]
    row = client.get("/api/v1/notification-deliveries/?event=test").json()["results"][0]
    assert row["channel_name"] == "ops" and row["error"] == "refused"
    response = client.get(f"/api/v1/notification-deliveries/{their_delivery.pk}/")
    assert response.status_code == 404
    assert SECRET not in client.get("/api/v1/notification-deliveries/").content.decode()
