"""Alert evaluation: duration, hysteresis, escalation, acknowledgement, health, scopes, gaps."""

from __future__ import annotations

from datetime import datetime, timedelta

import psutil
import pytest
from django.utils import timezone

from devflow.core.jobs import enqueue, execute_job
from devflow.core.models import ActivityLog, JobStatus
from devflow.monitoring import alerts, ticks
from devflow.monitoring.models import Alert, AlertRule, AlertState, ServerSample
from devflow.notifications import services as notifications
from devflow.notifications.models import Channel, Delivery
from devflow.servers.models import PingResult, Server, ServerGroup, Tag

pytestmark = pytest.mark.django_db

GiB = 1024**3
ALERT_EVENTS = ["alert.triggered", "alert.escalated", "alert.resolved"]


@pytest.fixture
def ops(acme, alice) -> Channel:  # type: ignore[no-untyped-def]
    return notifications.create_channel(
        acme, alice, name="ops", url="json://127.0.0.1:9/ops", events_wanted=ALERT_EVENTS
    )


@pytest.fixture
def pager(acme, alice) -> Channel:  # type: ignore[no-untyped-def]
    """Subscribed to nothing: it only hears what a rule sends it by name."""
    return notifications.create_channel(
        acme, alice, name="pager", url="json://127.0.0.1:9/pager", events_wanted=[]
    )


@pytest.fixture
def web(acme) -> Server:  # type: ignore[no-untyped-def]
    return Server.objects.create(team=acme, name="web-1", host="10.0.0.5", status="up")


@pytest.fixture
def start() -> datetime:
    return timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)


def sample(server: Server, at: datetime, *, cpu: float = 20.0, mem_percent: float = 40.0,
           root_percent: float = 30.0) -> ServerSample:  # fmt: skip
    """A realistic sample; disk has two mounts, `/` set by `root_percent`, `/var` at 10 %."""
    return ServerSample.objects.create(
        server=server, at=at, cpu_percent=cpu,
        mem_used=int(8 * GiB * mem_percent / 100), mem_total=8 * GiB, swap_used=0,
        swap_total=GiB, load1=0.4, load5=0.3, load15=0.2, net_rx_bps=125_000.0,
        net_tx_bps=25_000.0, disk_read_bps=0.0, disk_write_bps=4096.0,
        disk_used=int(50 * GiB * root_percent / 100) + 5 * GiB, disk_total=100 * GiB,
        mounts=[{"mount": "/", "used": int(50 * GiB * root_percent / 100), "total": 50 * GiB},
                {"mount": "/var", "used": 5 * GiB, "total": 50 * GiB}],
    )  # fmt: skip


def make_rule(team, actor, **fields) -> AlertRule:  # type: ignore[no-untyped-def]
    data = {"name": "CPU high", "metric": "cpu", "operator": ">", "threshold": 90.0,
            "duration_minutes": 0, **fields}  # fmt: skip
    return alerts.create_rule(team, actor, alerts.RuleData(**data))


def sent(event: str | None = None) -> list[tuple[str, str]]:
    rows = Delivery.objects.order_by("id")
    if event:
        rows = rows.filter(event=event)
    return [(d.event, d.channel.name) for d in rows]


def test_it_triggers_only_once_the_condition_held_for_the_whole_duration(
    acme, alice, ops, web, start
) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, duration_minutes=5, channels=[ops])
    for minute in range(10):
        sample(web, start + timedelta(minutes=minute), cpu=50.0)
    for minute in range(10, 13):
        sample(web, start + timedelta(minutes=minute), cpu=97.0)
    alerts.evaluate(start + timedelta(minutes=12))
    assert not Alert.objects.exists()  # 3 of the 5 minutes: not yet

    for minute in range(13, 16):
        sample(web, start + timedelta(minutes=minute), cpu=95.5)
    outcome = alerts.evaluate(start + timedelta(minutes=15))
    assert outcome.triggered == 1
    alert = Alert.objects.get()
    assert alert.state == AlertState.TRIGGERED and alert.server == web
    assert alert.message == "web-1: CPU is 95.5 % (CPU > 90 % for 5 min)"
    [delivery] = Delivery.objects.all()
    assert (delivery.event, delivery.channel) == ("alert.triggered", ops)
    assert delivery.title == "Alert: CPU high on web-1"
    assert delivery.link.endswith(f"/monitoring/alerts/{alert.pk}/")
    facts = delivery.data["alert"]
    assert (facts["id"], facts["state"], facts["value"]) == (alert.pk, "triggered", 95.5)
    assert facts["rule"]["name"] == "CPU high" and facts["rule"]["metric"] == "cpu"
    assert facts["server"] == {"id": web.pk, "name": "web-1"}
    assert facts["message"] == alert.message and facts["resolved_at"] is None

    alerts.evaluate(start + timedelta(minutes=15))  # a second evaluation of the same minute
    assert Alert.objects.count() == 1 and Delivery.objects.count() == 1


def test_duration_zero_looks_at_the_newest_reading_alone_on_the_fullest_mount(
    acme, alice, ops, web, start
) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, name="Disk full", metric="disk", operator=">=", threshold=80.0)
    sample(web, start, root_percent=95.0)  # old: does not count
    sample(web, start + timedelta(minutes=1), root_percent=79.0)
    alerts.evaluate(start + timedelta(minutes=1))
    assert not Alert.objects.exists()
    sample(web, start + timedelta(minutes=2), root_percent=84.0)  # summed disk is only 47 %
    alerts.evaluate(start + timedelta(minutes=2))
    alert = Alert.objects.get()
    assert alerts.format_value("disk", alert.value) == "84.0 %"
    # No channels on the rule: the team's channels subscribed to the event hear it.
    assert sent() == [("alert.triggered", "ops")]


def test_a_value_hovering_at_the_threshold_sends_one_trigger_and_one_resolve(
    acme, alice, ops, web, start
) -> None:  # type: ignore[no-untyped-def]
    hovering = [91, 89, 92, 88, 90.5, 86, 91, 87, 89.5, 40]
    make_rule(acme, alice, name="CPU", channels=[ops])  # default hysteresis: 5 points
    for minute, value in enumerate(hovering):
        sample(web, start + timedelta(minutes=minute), cpu=value)
        alerts.evaluate(start + timedelta(minutes=minute))
    assert sent() == [("alert.triggered", "ops"), ("alert.resolved", "ops")]
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by is None
    assert alert.resolved_at == start + timedelta(minutes=len(hovering) - 1)
    resolved = Delivery.objects.get(event="alert.resolved")
    assert "resolved (back to 40.0 %)" in resolved.body
    assert resolved.data["alert"]["state"] == "resolved"
    assert resolved.data["alert"]["resolved_at"] == alert.resolved_at.isoformat()
    assert resolved.data["alert"]["resolved_by"] is None  # it resolved itself

    # The same values without hysteresis flap: that is what the margin prevents.
    ServerSample.objects.all().delete()
    Delivery.objects.all().delete()
    make_rule(acme, alice, name="CPU twitchy", hysteresis=0, channels=[ops])
    AlertRule.objects.filter(name="CPU").update(enabled=False)
    for minute, value in enumerate(hovering):
        sample(web, start + timedelta(hours=1, minutes=minute), cpu=value)
        alerts.evaluate(start + timedelta(hours=1, minutes=minute))
    assert len(sent("alert.triggered")) == 4


def test_an_unacknowledged_alert_escalates_once_to_the_escalation_channels(
    acme, alice, ops, pager, web, start
) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, channels=[ops], escalate_after_minutes=10, escalation_channels=[pager])
    for minute in range(13):
        sample(web, start + timedelta(minutes=minute), cpu=99.0)
        alerts.evaluate(start + timedelta(minutes=minute))
        if minute == 9:
            assert sent() == [("alert.triggered", "ops")]  # 9 minutes: not yet
    assert sent() == [("alert.triggered", "ops"), ("alert.escalated", "pager")]
    alert = Alert.objects.get()
    assert alert.escalated_at == start + timedelta(minutes=10)
    escalated = Delivery.objects.get(event="alert.escalated")
    assert escalated.title == "Escalated: CPU high on web-1"
    assert "Not acknowledged within 10 min" in escalated.body

    sample(web, start + timedelta(minutes=13), cpu=12.0)
    alerts.evaluate(start + timedelta(minutes=13))
    # An escalated alert's resolution reaches everybody who heard of it.
    assert sorted(sent("alert.resolved")) == [
        ("alert.resolved", "ops"),
        ("alert.resolved", "pager"),
    ]
    assert [e[1] for e in alerts.timeline(Alert.objects.get())] == [
        "Triggered at 99.0 %",
        "Escalated: nobody acknowledged it in time",
        "Resolved itself",
    ]


def test_acknowledging_stops_the_escalation_and_is_recorded(
    acme, alice, bob, ops, pager, web, start
) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, channels=[ops], escalate_after_minutes=5, escalation_channels=[pager])
    sample(web, start, cpu=99.0)
    alerts.evaluate(start)
    alert = Alert.objects.get()
    assert alerts.acknowledge(alert, bob) is True
    assert alerts.acknowledge(alert, alice) is False  # already acknowledged: no second claim
    for minute in range(1, 20):
        sample(web, start + timedelta(minutes=minute), cpu=99.0)
        alerts.evaluate(start + timedelta(minutes=minute))
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == bob
    assert alert.escalated_at is None
    assert sent() == [("alert.triggered", "ops")]
    assert ActivityLog.objects.filter(action="monitoring.alert_acknowledged", actor=bob).exists()

    assert alerts.resolve(alert, alice) is True
    assert alerts.resolve(alert, alice) is False
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by == alice
    assert sent("alert.resolved") == [("alert.resolved", "ops")]
    assert "resolved by alice" in Delivery.objects.get(event="alert.resolved").body


def test_reachability_comes_from_the_ping_history(acme, alice, ops, web, start) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, name="Down", metric="health", operator="=", threshold=0,
              duration_minutes=2, channels=[ops])  # fmt: skip
    for minute, ok in enumerate([True, False, False]):
        PingResult.objects.create(server=web, at=start + timedelta(minutes=minute), ok=ok)
    alerts.evaluate(start + timedelta(minutes=2))
    assert not Alert.objects.exists()  # down for 1 of the 2 minutes
    PingResult.objects.create(server=web, at=start + timedelta(minutes=3), ok=False)
    alerts.evaluate(start + timedelta(minutes=3))
    alert = Alert.objects.get()
    assert alert.message == "web-1 is unreachable (Reachable = 0 for 2 min)"
    for minute in (4, 5, 6):
        PingResult.objects.create(server=web, at=start + timedelta(minutes=minute), ok=True)
    alerts.evaluate(start + timedelta(minutes=6))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert sent() == [("alert.triggered", "ops"), ("alert.resolved", "ops")]


def test_group_and_tag_scopes_watch_only_their_servers(acme, alice, start) -> None:  # type: ignore[no-untyped-def]
    databases = ServerGroup.objects.create(team=acme, name="databases")
    edge = Tag.objects.create(team=acme, name="edge")
    db = Server.objects.create(team=acme, name="db-1", host="10.0.0.7", group=databases)
    cdn = Server.objects.create(team=acme, name="cdn-1", host="10.0.0.8")
    cdn.tags.add(edge)
    other = Server.objects.create(team=acme, name="app-1", host="10.0.0.9")
    make_rule(acme, alice, name="DB memory", metric="ram", scope="group", group=databases,
              threshold=80.0)  # fmt: skip
    make_rule(acme, alice, name="Edge memory", metric="ram", scope="tag", tag=edge, threshold=80.0)
    for server in (db, cdn, other):
        sample(server, start, mem_percent=93.0)
    alerts.evaluate(start)
    assert sorted(Alert.objects.values_list("rule__name", "server__name")) == [
        ("DB memory", "db-1"),
        ("Edge memory", "cdn-1"),
    ]

    cdn.tags.clear()  # no longer watched: its alert ends rather than staying open forever
    sample(cdn, start + timedelta(minutes=1), mem_percent=93.0)
    alerts.evaluate(start + timedelta(minutes=1))
    assert Alert.objects.get(server=cdn).state == AlertState.RESOLVED
    assert Alert.objects.get(server=db).state == AlertState.TRIGGERED


def test_missing_readings_neither_trigger_nor_resolve(acme, alice, ops, web, start) -> None:  # type: ignore[no-untyped-def]
    make_rule(acme, alice, duration_minutes=5, channels=[ops])
    for minute in (3, 4, 5):  # high, but the window's first minutes were not collected
        sample(web, start + timedelta(minutes=minute), cpu=99.0)
    alerts.evaluate(start + timedelta(minutes=5))
    assert not Alert.objects.exists()

    for minute in (6, 7, 8):
        sample(web, start + timedelta(minutes=minute), cpu=99.0)
    alerts.evaluate(start + timedelta(minutes=8))
    alert = Alert.objects.get()
    # The server stops being collected: a stale reading is no reason to resolve.
    for minutes_later in (5, 30, 120):
        alerts.evaluate(start + timedelta(minutes=8 + minutes_later))
    alert.refresh_from_db()
    assert alert.state == AlertState.TRIGGERED
    assert sent() == [("alert.triggered", "ops")]

    other = Server.objects.create(team=acme, name="web-2", host="10.0.0.6")
    sample(other, start, cpu=99.0)  # high but two hours old, then silence
    alerts.evaluate(start + timedelta(minutes=60))
    assert not Alert.objects.filter(server=other).exists()


def test_disabling_or_deleting_a_rule_resolves_its_open_alerts(
    acme, alice, ops, web, start
) -> None:  # type: ignore[no-untyped-def]
    rule = make_rule(acme, alice, channels=[ops])
    sample(web, start, cpu=99.0)
    alerts.evaluate(start)
    data = alerts.RuleData(name=rule.name, metric="cpu", operator=">", threshold=90.0,
                           duration_minutes=0, channels=[ops], enabled=False)  # fmt: skip
    alerts.update_rule(rule, alice, data)
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by == alice
    assert "the rule was disabled" in Delivery.objects.get(event="alert.resolved").body
    alerts.evaluate(start)  # disabled: nothing new
    assert Alert.objects.count() == 1

    second = make_rule(acme, alice, name="CPU again", channels=[ops])
    alerts.evaluate(start)
    assert Alert.objects.filter(rule=second, state=AlertState.TRIGGERED).exists()
    alerts.delete_rule(second, alice)
    assert not AlertRule.objects.filter(pk=second.pk).exists()
    assert len(sent("alert.resolved")) == 2
    assert ActivityLog.objects.filter(action="monitoring.alert_rule_deleted").exists()


def test_rules_are_checked_against_their_team(acme, alice, globex, charlie, web) -> None:  # type: ignore[no-untyped-def]
    theirs = notifications.create_channel(
        globex, charlie, name="theirs", url="json://127.0.0.1:9/t", events_wanted=[]
    )
    their_server = Server.objects.create(team=globex, name="web-9", host="10.1.0.5")
    cases = [
        ({"channels": [theirs]}, "channels"),
        ({"scope": "server", "server": their_server}, "server"),
        ({"scope": "server"}, "server"),
        ({"threshold": 150.0}, "threshold"),
        ({"metric": "health", "threshold": 2.0}, "threshold"),
        ({"escalate_after_minutes": 5}, "escalation_channels"),
        ({"duration_minutes": 5000}, "duration_minutes"),
    ]
    for fields, field in cases:
        with pytest.raises(alerts.RuleError) as refused:
            make_rule(acme, alice, **fields)
        assert refused.value.field == field, fields
    assert not AlertRule.objects.exists()
    rule = make_rule(acme, alice, scope="server", server=web, group=None)
    assert alerts.scope_label(rule) == "One server: web-1"
    assert ActivityLog.objects.filter(action="monitoring.alert_rule_created", actor=alice).exists()


def test_load_and_network_use_a_tenth_of_the_threshold_as_hysteresis(
    acme, alice, web, start
) -> None:  # type: ignore[no-untyped-def]
    rule = make_rule(acme, alice, name="Busy link", metric="network", threshold=100.0)
    assert alerts.hysteresis_of(rule) == 10.0
    assert alerts.clears(rule, 89.9) and not alerts.clears(rule, 91.0)
    low = make_rule(acme, alice, name="Idle", metric="load", operator="<", threshold=0.5)
    assert alerts.clears(low, 0.56) and not alerts.clears(low, 0.54)
    sample(web, start, cpu=5.0)  # 150 kB/s = 1.2 Mbit/s
    alerts.evaluate(start)
    assert list(Alert.objects.values_list("rule__name", flat=True)) == ["Idle"]
    assert alerts.format_value("network", 1.2) == "1.2 Mbit/s"


@pytest.mark.django_db(transaction=True)
def test_a_real_collection_of_this_machine_feeds_a_rule_and_notifies(
    acme, alice, ops, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)  # run here
    local = Server.objects.create(team=acme, name="this machine", is_local=True, username="")
    make_rule(acme, alice, name="Memory in use", metric="ram", operator=">", threshold=0.0,
              channels=[ops])  # fmt: skip
    assert "monitoring.alerts" in ticks.tick(timezone.now())  # queued with the collection

    collect = enqueue("monitoring.collect")
    execute_job(collect.pk)
    collect.refresh_from_db()
    assert collect.status == JobStatus.SUCCEEDED, collect.error
    evaluation = enqueue("monitoring.alerts")
    execute_job(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == JobStatus.SUCCEEDED, evaluation.error
    assert evaluation.result == {"triggered": 1, "resolved": 0, "escalated": 0}

    alert = Alert.objects.get()
    assert alert.server == local
    memory = psutil.virtual_memory()
    assert abs(alert.value - (memory.total - memory.available) / memory.total * 100) < 10
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.channel) == ("alert.triggered", ops)
    assert delivery.title == "Alert: Memory in use on this machine"
