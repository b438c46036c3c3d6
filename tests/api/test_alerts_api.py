"""The alerts API: alert rules through `alerts` (CRUD, the service's messages), and alerts
(history filters, acknowledge, resolve) with the pages' roles and team scope."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devflow.accounts import services as account_services
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, Team, User
from devflow.monitoring import alerts
from devflow.monitoring.models import Alert, AlertRule, AlertState
from devflow.notifications.models import Channel, Delivery
from devflow.servers.models import Server
from tests.api.conftest import problem_of

pytestmark = pytest.mark.django_db


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
def victor(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    return member(acme, "victor", Role.VIEWER)


@pytest.fixture
def web1(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def channel(acme) -> Channel:  # type: ignore[no-untyped-def]
    return Channel.objects.create(
        team=acme, name="ops", url="json://127.0.0.1:9/", service="json",
        masked_url="json://127.0.0.1:9/", events=["alert.resolved"],
    )  # fmt: skip


def rule_of(team: Team, name: str = "CPU high", **fields: object) -> AlertRule:
    data = alerts.RuleData(name=name, metric="cpu", operator=">", threshold=90.0)
    for key, value in fields.items():
        setattr(data, key, value)
    return alerts.create_rule(team, None, data)


def alert_of(
    rule: AlertRule, server: Server, at: datetime | None = None, **fields: object
) -> Alert:
    return Alert.objects.create(
        team=rule.team, rule=rule, server=server, value=95.0, last_value=96.0,
        message=f"{server.name}: CPU is 95.0 %", triggered_at=at or timezone.now(), **fields,
    )  # fmt: skip


@pytest.fixture
def cpu_alert(acme, web1) -> Alert:  # type: ignore[no-untyped-def]
    return alert_of(rule_of(acme), web1)


@pytest.fixture
def their_alert(globex) -> Alert:  # type: ignore[no-untyped-def]
    server = Server.objects.create(team=globex, name="their-1", host="10.9.9.9")
    return alert_of(rule_of(globex, "theirs"), server)


# Rules ----------------------------------------------------------------------------------


def test_an_owner_adds_a_rule_through_the_service(api, alice, acme, web1, channel) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").post(
        "/api/v1/alert-rules/",
        {"team": acme.pk, "name": "Memory", "metric": "ram", "operator": ">=", "threshold": 90,
         "scope": "server", "server": web1.pk, "channels": [channel.pk]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    rule = AlertRule.objects.get()
    assert body["id"] == rule.pk and rule.created_by == alice and rule.team == acme
    assert body["condition"] == "Memory ≥ 90 % for 5 min"
    assert body["scope_label"] == "One server: web-1"
    assert body["channels"] == [channel.pk] and body["open_alerts"] == 0


def test_a_bad_rule_answers_the_services_message_and_saves_nothing(api, alice, acme) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "write")
    base = {"team": acme.pk, "name": "CPU", "metric": "cpu", "operator": ">"}
    response = client.post("/api/v1/alert-rules/", {**base, "threshold": 150}, format="json")
    assert response.status_code == 400
    assert problem_of(response)["errors"] == {"threshold": ["A percentage is between 0 and 100."]}
    response = client.post(
        "/api/v1/alert-rules/", {**base, "threshold": 90, "scope": "server"}, format="json"
    )
    assert problem_of(response)["errors"] == {"server": ["Choose the server the rule watches."]}
    response = client.post(
        "/api/v1/alert-rules/",
        {**base, "threshold": 90, "escalate_after_minutes": 10},
        format="json",
    )
    assert problem_of(response)["errors"] == {
        "escalation_channels": ["Choose where to escalate to."]
    }
    assert not AlertRule.objects.exists()


def test_another_teams_server_or_channel_cannot_be_watched_or_told(  # type: ignore[no-untyped-def]
    api, alice, acme, globex
) -> None:
    theirs = Server.objects.create(team=globex, name="their-1", host="10.9.9.9")
    their_channel = Channel.objects.create(team=globex, name="x", url="json://h/", service="json")
    client = api(alice, "read", "write")
    base = {"team": acme.pk, "name": "CPU", "metric": "cpu", "operator": ">", "threshold": 90}
    response = client.post(
        "/api/v1/alert-rules/", {**base, "scope": "server", "server": theirs.pk}, format="json"
    )
    assert response.status_code == 400 and "server" in problem_of(response)["errors"]
    response = client.post(
        "/api/v1/alert-rules/", {**base, "channels": [their_channel.pk]}, format="json"
    )
    assert response.status_code == 400 and "channels" in problem_of(response)["errors"]
    assert not AlertRule.objects.exists()


def test_disabling_a_rule_resolves_its_open_alerts(api, alice, cpu_alert) -> None:  # type: ignore[no-untyped-def]
    rule = cpu_alert.rule
    client = api(alice, "read", "write")
    assert client.get(f"/api/v1/alert-rules/{rule.pk}/").json()["open_alerts"] == 1
    response = client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False and response.json()["open_alerts"] == 0
    cpu_alert.refresh_from_db()
    assert cpu_alert.state == AlertState.RESOLVED and cpu_alert.resolved_by == alice
    rule.refresh_from_db()
    assert rule.name == "CPU high" and rule.threshold == 90.0  # the rest is kept


def test_rules_need_the_maintainer_role_like_the_page(api, acme, bob, victor, cpu_alert) -> None:  # type: ignore[no-untyped-def]
    rule = cpu_alert.rule
    body = {"team": acme.pk, "name": "x", "metric": "cpu", "operator": ">", "threshold": 1}
    for user in (bob, victor):
        client = api(user, "read", "write", "deploy", "admin")
        assert client.get(f"/api/v1/alert-rules/{rule.pk}/").status_code == 200
        for response in (
            client.post("/api/v1/alert-rules/", body, format="json"),
            client.patch(f"/api/v1/alert-rules/{rule.pk}/", {"name": "y"}, format="json"),
            client.delete(f"/api/v1/alert-rules/{rule.pk}/"),
        ):
            assert response.status_code == 403
            assert "does not allow this" in problem_of(response)["detail"]
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["CPU high"]


def test_deleting_a_rule_resolves_then_deletes_its_alerts(api, alice, cpu_alert) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").delete(f"/api/v1/alert-rules/{cpu_alert.rule_id}/")
    assert response.status_code == 204
    assert not AlertRule.objects.exists() and not Alert.objects.exists()


def test_another_teams_rule_is_a_404_on_every_route(api, alice, their_alert) -> None:  # type: ignore[no-untyped-def]
    rule = their_alert.rule
    client = api(alice, "read", "write")
    base = f"/api/v1/alert-rules/{rule.pk}/"
    body = {"name": "mine", "metric": "cpu", "operator": ">", "threshold": 1}
    for response in (
        client.get(base),
        client.put(base, body, format="json"),
        client.patch(base, {"name": "mine"}, format="json"),
        client.delete(base),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    rule.refresh_from_db()
    assert rule.name == "theirs"
    assert client.get("/api/v1/alert-rules/").json()["count"] == 0


# Alerts ---------------------------------------------------------------------------------


def test_a_deployer_acknowledges_and_resolves_like_the_page(
    api, bob, acme, cpu_alert, channel
) -> None:  # type: ignore[no-untyped-def]
    client = api(bob, "read", "deploy")
    response = client.post(f"/api/v1/alerts/{cpu_alert.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "bob"
    again = client.post(f"/api/v1/alerts/{cpu_alert.pk}/acknowledge/")
    assert again.status_code == 409
    assert problem_of(again)["detail"] == "That alert is no longer waiting for acknowledgement."

    response = client.post(f"/api/v1/alerts/{cpu_alert.pk}/resolve/")
    assert response.json()["state"] == "resolved" and response.json()["resolved_by"] == "bob"
    assert Delivery.objects.filter(channel=channel, event="alert.resolved").count() == 1
    again = client.post(f"/api/v1/alerts/{cpu_alert.pk}/resolve/")
    assert again.status_code == 409
    assert problem_of(again)["detail"] == "That alert was already resolved."


def test_a_viewer_cannot_acknowledge_or_resolve(api, victor, cpu_alert) -> None:  # type: ignore[no-untyped-def]
    client = api(victor, "read", "deploy", "write")
    assert client.get(f"/api/v1/alerts/{cpu_alert.pk}/").status_code == 200
    for action in ("acknowledge", "resolve"):
        response = client.post(f"/api/v1/alerts/{cpu_alert.pk}/{action}/")
        assert response.status_code == 403
        assert problem_of(response)["detail"] == "Your role in this team does not allow this."
    cpu_alert.refresh_from_db()
    assert cpu_alert.state == AlertState.TRIGGERED


def test_acknowledging_needs_the_deploy_scope(api, alice, cpu_alert) -> None:  # type: ignore[no-untyped-def]
    response = api(alice, "read", "write").post(f"/api/v1/alerts/{cpu_alert.pk}/acknowledge/")
    assert response.status_code == 403
    assert "lacks the “deploy” scope" in problem_of(response)["detail"]
    cpu_alert.refresh_from_db()
    assert cpu_alert.state == AlertState.TRIGGERED


def test_another_teams_alert_is_a_404_on_every_route(api, alice, their_alert) -> None:  # type: ignore[no-untyped-def]
    client = api(alice, "read", "deploy")
    for response in (
        client.get(f"/api/v1/alerts/{their_alert.pk}/"),
        client.post(f"/api/v1/alerts/{their_alert.pk}/acknowledge/"),
        client.post(f"/api/v1/alerts/{their_alert.pk}/resolve/"),
    ):
        assert response.status_code == 404
        assert problem_of(response)["detail"] == "Not found (or not yours)."
    their_alert.refresh_from_db()
    assert their_alert.state == AlertState.TRIGGERED
    assert client.get("/api/v1/alerts/").json()["count"] == 0


def test_the_history_filters_by_state_rule_server_and_days(api, alice, acme, web1) -> None:  # type: ignore[no-untyped-def]
    web2 = Server.objects.create(team=acme, name="web-2", host="10.0.0.6")
    cpu, disk = rule_of(acme), rule_of(acme, "Disk", metric="disk")
    day = timezone.make_aware(datetime(2025, 3, 10, 12, 0))
    old = alert_of(cpu, web1, day - timedelta(days=5), state=AlertState.RESOLVED)
    mid = alert_of(cpu, web2, day, state=AlertState.ACKNOWLEDGED)
    new = alert_of(disk, web1, day + timedelta(days=5))
    client = api(alice, "read")

    def ids(query: str) -> list[int]:
        return [a["id"] for a in client.get(f"/api/v1/alerts/?{query}").json()["results"]]

    assert ids("") == [new.pk, mid.pk, old.pk]
    assert ids("state=resolved") == [old.pk]
    assert ids("state=triggered&state=acknowledged") == [new.pk, mid.pk]
    assert ids(f"rule={cpu.pk}") == [mid.pk, old.pk]
    assert ids(f"server={web1.pk}") == [new.pk, old.pk]
    assert ids("since=2025-03-10&until=2025-03-10") == [mid.pk]
    assert ids("since=2025-03-06") == [new.pk, mid.pk]
    assert ids("ordering=triggered_at") == [old.pk, mid.pk, new.pk]
    response = client.get("/api/v1/alerts/?state=sleeping")
    assert response.status_code == 400 and "state" in problem_of(response)["errors"]


def test_lists_read_the_same_number_of_queries_for_1_or_20_alerts(  # type: ignore[no-untyped-def]
    client, alice, bob, acme, web1, channel
) -> None:
    client.force_login(alice)  # the session: no token bookkeeping in the count

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    first = rule_of(acme, "r0", channels=[channel])
    alert_of(first, web1, acknowledged_by=bob, state=AlertState.ACKNOWLEDGED)
    one_alert, one_rule = queries("/api/v1/alerts/"), queries("/api/v1/alert-rules/")
    for n in range(1, 20):
        server = Server.objects.create(team=acme, name=f"web-{n + 1}", host="10.0.0.6")
        rule = rule_of(acme, f"r{n}", channels=[channel], scope="server", server=server)
        alert_of(rule, server, resolved_by=alice, state=AlertState.RESOLVED)
    assert client.get("/api/v1/alerts/").json()["count"] == 20
    assert client.get("/api/v1/alert-rules/").json()["count"] == 20
    assert queries("/api/v1/alerts/") == one_alert
    assert queries("/api/v1/alert-rules/") == one_rule
