"""Alert pages through the Django test client: rules, the alerts page, acknowledging, access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from devflow.accounts import services as accounts
from devflow.accounts.choices import Role
from devflow.accounts.models import Membership, User
from devflow.core.models import ActivityLog
from devflow.monitoring.models import Alert, AlertRule, AlertState
from devflow.notifications import services as notifications
from devflow.notifications.models import Channel
from devflow.servers.models import Server, ServerGroup
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

RULES = reverse("monitoring:alert_rules")
ALERTS = reverse("monitoring:alerts")


@pytest.fixture
def ops(acme, alice) -> Channel:  # type: ignore[no-untyped-def]
    return notifications.create_channel(
        acme, alice, name="ops", url="json://127.0.0.1:9/ops", events_wanted=["alert.triggered"]
    )


@pytest.fixture
def web(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5")


@pytest.fixture
def dave(acme) -> User:  # type: ignore[no-untyped-def]
    """Viewer in Acme."""
    user = accounts.create_user(username="dave", email="dave@example.com", password=PASSWORD)
    Membership.objects.create(user=user, team=acme, role=Role.VIEWER)
    user.last_team = acme
    user.save()
    return user


def open_alert(team, server, *, name: str = "CPU high", minutes_ago: int = 3, **fields) -> Alert:  # type: ignore[no-untyped-def]
    rule = AlertRule.objects.filter(team=team, name=name).first() or AlertRule.objects.create(
        team=team, name=name, metric="cpu", operator=">", threshold=90.0, duration_minutes=0
    )
    return Alert.objects.create(
        team=team, rule=rule, server=server, value=97.5, last_value=96.0,
        message=f"{server.name}: CPU is 97.5 % (CPU > 90 %)",
        triggered_at=timezone.now() - timedelta(minutes=minutes_ago), **fields,
    )  # fmt: skip


def form_data(**fields) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"name": "CPU high", "enabled": "on", "scope": "all", "metric": "cpu",
            "operator": ">", "threshold": "90", "duration_minutes": "5", **fields}  # fmt: skip


def test_the_rules_page_starts_empty_and_a_rule_can_be_added(alice_client, ops) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(RULES)
    assert "No alert rules yet" in page.content.decode()
    form = alice_client.get(reverse("monitoring:alert_rule_create")).content.decode()
    assert "ops" in form and "hovering" in form  # channels offered; hysteresis explained

    response = alice_client.post(
        reverse("monitoring:alert_rule_create"), form_data(channels=[ops.pk], hysteresis="")
    )
    assert response.status_code == 302 and response["Location"] == RULES
    rule = AlertRule.objects.get()
    assert rule.hysteresis is None and list(rule.channels.all()) == [ops]
    listing = alice_client.get(RULES).content.decode()
    assert "CPU &gt; 90 % for 5 min" in listing and "All servers" in listing
    entry = ActivityLog.objects.get(action="monitoring.alert_rule_created")
    assert entry.actor_label == "alice" and entry.details["condition"] == "CPU > 90 % for 5 min"


def test_the_form_offers_and_accepts_only_the_teams_own_choices(
    alice_client, acme, globex, charlie, web
) -> None:  # type: ignore[no-untyped-def]
    theirs = notifications.create_channel(
        globex, charlie, name="globex-pager", url="json://127.0.0.1:9/g", events_wanted=[]
    )
    their_server = Server.objects.create(team=globex, name="globex-db", host="10.1.0.5")
    ServerGroup.objects.create(team=acme, name="frontends")
    form = alice_client.get(reverse("monitoring:alert_rule_create")).content.decode()
    assert "web-1" in form and "frontends" in form
    assert "globex" not in form

    url = reverse("monitoring:alert_rule_create")
    for data in (
        form_data(channels=[theirs.pk]),
        form_data(scope="server", server=their_server.pk),
        form_data(scope="server"),
        form_data(threshold="140"),
        form_data(escalate_after_minutes="10"),
    ):
        response = alice_client.post(url, data)
        assert response.status_code == 400, data
        assert 'class="errorlist"' in response.content.decode()
    assert not AlertRule.objects.exists()
    assert "Choose where to escalate to." in response.content.decode()


def test_a_rule_can_be_edited_and_deleted_after_confirming(alice_client, acme, alice, web) -> None:  # type: ignore[no-untyped-def]
    alert = open_alert(acme, web)
    rule = alert.rule
    edit = reverse("monitoring:alert_rule_edit", args=[rule.pk])
    assert 'value="CPU high"' in alice_client.get(edit).content.decode()
    response = alice_client.post(edit, form_data(name="CPU very high", threshold="95",
                                                 scope="server", server=web.pk))  # fmt: skip
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.threshold, rule.server) == ("CPU very high", 95.0, web)

    delete = reverse("monitoring:alert_rule_delete", args=[rule.pk])
    confirm = alice_client.get(delete).content.decode()
    assert "Delete the alert rule CPU very high?" in confirm
    assert "Its 1 alert goes with it" in confirm and "The 1 open one resolves first" in confirm
    assert AlertRule.objects.filter(pk=rule.pk).exists()  # asking deletes nothing
    assert alice_client.post(delete).status_code == 302
    assert not AlertRule.objects.exists() and not Alert.objects.exists()
    assert "No alert rules yet" in alice_client.get(RULES).content.decode()


def test_another_teams_rules_and_alerts_do_not_exist(client, charlie, acme, web) -> None:  # type: ignore[no-untyped-def]
    alert = open_alert(acme, web)
    client.force_login(charlie)
    for name, args in [("alert_rule_edit", [alert.rule.pk]), ("alert_rule_delete", [alert.rule.pk]),
                       ("alert_detail", [alert.pk])]:  # fmt: skip
        assert client.get(reverse(f"monitoring:{name}", args=args)).status_code == 404
    for name in ("alert_acknowledge", "alert_resolve"):
        assert client.post(reverse(f"monitoring:{name}", args=[alert.pk])).status_code == 404
    assert (
        client.post(reverse("monitoring:alert_rule_delete", args=[alert.rule.pk])).status_code
        == 404
    )
    page = client.get(ALERTS).content.decode()
    assert "web-1" not in page and "All clear" not in page
    alert.refresh_from_db()
    assert alert.state == AlertState.TRIGGERED and AlertRule.objects.exists()


def test_a_viewer_sees_alerts_but_cannot_acknowledge_them(client, dave, acme, web) -> None:  # type: ignore[no-untyped-def]
    alert = open_alert(acme, web)
    client.force_login(dave)
    page = client.get(ALERTS).content.decode()
    assert "web-1" in page and "Triggered" in page
    assert "Acknowledge</button>" not in page
    assert client.post(reverse("monitoring:alert_acknowledge", args=[alert.pk])).status_code == 403
    assert client.post(reverse("monitoring:alert_resolve", args=[alert.pk])).status_code == 403
    assert client.get(reverse("monitoring:alert_rule_create")).status_code == 403
    alert.refresh_from_db()
    assert alert.state == AlertState.TRIGGERED


def test_a_deployer_acknowledges_and_the_page_says_who(client, bob, acme, web) -> None:  # type: ignore[no-untyped-def]
    alert = open_alert(acme, web)
    client.force_login(bob)
    assert "Acknowledge</button>" in client.get(ALERTS).content.decode()
    response = client.post(
        reverse("monitoring:alert_acknowledge", args=[alert.pk]), {"next": ALERTS}, follow=True
    )
    page = response.content.decode()
    assert "Acknowledged “CPU high” on web-1" in page
    assert "Acknowledged by bob" in page
    assert "Acknowledge</button>" not in page  # only Resolve is left

    client.post(reverse("monitoring:alert_resolve", args=[alert.pk]))
    detail = client.get(reverse("monitoring:alert_detail", args=[alert.pk])).content.decode()
    assert "Triggered at 97.5 %" in detail
    assert "Acknowledged by bob" in detail and "Resolved by bob" in detail
    assert "Resolve</button>" not in detail
    assert "All clear" in client.get(ALERTS).content.decode()


def test_a_next_address_elsewhere_is_ignored(alice_client, acme, web) -> None:  # type: ignore[no-untyped-def]
    alert = open_alert(acme, web)
    response = alice_client.post(
        reverse("monitoring:alert_acknowledge", args=[alert.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("monitoring:alert_detail", args=[alert.pk])


def test_history_filters_by_state_rule_server_and_dates(alice_client, acme, alice, web) -> None:  # type: ignore[no-untyped-def]
    db = Server.objects.create(team=acme, name="db-1", host="10.0.0.7")
    now = timezone.now()
    open_alert(acme, web, minutes_ago=5)
    open_alert(acme, db, name="Disk full")
    old = open_alert(acme, db, minutes_ago=3 * 24 * 60, state=AlertState.RESOLVED,
                     resolved_at=now - timedelta(days=2), resolved_by=alice)  # fmt: skip

    def servers_listed(**query) -> list[str]:  # type: ignore[no-untyped-def]
        page = alice_client.get(ALERTS, query).content.decode()
        history = page.split('data-testid="alert-history"')[1]
        return re.findall(
            r'data-testid="history-row">\s*<td[^>]*>.*?</td>\s*<td>([^<]+)<', history, re.S
        )

    assert servers_listed() == ["db-1", "web-1", "db-1"]
    assert servers_listed(state="resolved") == ["db-1"]
    assert servers_listed(rule=old.rule.pk) == ["web-1", "db-1"]
    assert servers_listed(server=db.pk) == ["db-1", "db-1"]
    today = timezone.localdate(now)
    assert servers_listed(since=str(today - timedelta(days=1))) == ["db-1", "web-1"]
    three_days_ago = str(today - timedelta(days=3))
    assert servers_listed(since=three_days_ago, until=three_days_ago) == ["db-1"]
    assert servers_listed(state="resolved", server=web.pk) == []
    assert (
        "No alerts match"
        in alice_client.get(ALERTS, {"state": "resolved", "server": web.pk}).content.decode()
    )
    assert servers_listed(since="not a date") == ["db-1", "web-1", "db-1"]  # ignored
    open_part = alice_client.get(ALERTS).content.decode().split('data-testid="alert-history"')[0]
    assert open_part.count('data-testid="open-alert"') == 2


def test_the_history_is_paginated(alice_client, acme, web) -> None:  # type: ignore[no-untyped-def]
    for number in range(30):
        open_alert(acme, web, minutes_ago=number + 10, state=AlertState.RESOLVED,
                   resolved_at=timezone.now())  # fmt: skip
    first = alice_client.get(ALERTS).content.decode()
    assert first.count('data-testid="history-row"') == 25 and "Page 1 of 2" in first
    second = alice_client.get(ALERTS, {"page": 2}).content.decode()
    assert second.count('data-testid="history-row"') == 5


def test_the_monitoring_overview_shows_the_open_alert_count(alice_client, acme, web) -> None:  # type: ignore[no-untyped-def]
    assert "No open alerts" in alice_client.get(reverse("monitoring:overview")).content.decode()
    open_alert(acme, web)
    open_alert(acme, web, name="Disk full")
    page = alice_client.get(reverse("monitoring:overview")).content.decode()
    assert "2 open alerts" in page


def test_the_alerts_page_without_rules_points_to_the_rules_page(alice_client) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(ALERTS).content.decode()
    assert "No alert rules yet" in page and "No alerts yet" in page
