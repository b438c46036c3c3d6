"""Alert rules and alerts: validate and save rules, read metrics, evaluate, and the lifecycle.

An alert is one episode of a rule's condition on one server:

    triggered  --(someone acknowledges)-->  acknowledged
        |                                        |
        +------(condition clears, or by hand)----+-->  resolved

Every transition is claimed with a conditional UPDATE that must change exactly one row
(or, for a trigger, an INSERT the one-open-alert-per-rule-and-server constraint allows),
and only the claimer notifies: two evaluations running at once still send one
notification per transition. Hysteresis keeps a value hovering at the threshold from
resolving and re-triggering every minute.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from devflow.core import audit
from devflow.core.models import ActivitySource
from devflow.monitoring.alert_readings import (
    PERCENT_METRICS,
    readings,
    servers_in_scope,
    slack,
    window,
)
from devflow.monitoring.models import (
    Alert,
    AlertMetric,
    AlertOperator,
    AlertRule,
    AlertScope,
    AlertState,
)
from devflow.notifications import services as notifications
from devflow.notifications.models import Channel
from devflow.servers.models import Server, ServerGroup, Tag

OPEN_STATES = [AlertState.TRIGGERED, AlertState.ACKNOWLEDGED]

# Colour of each state's badge on the pages.
STATE_COLOURS = {
    AlertState.TRIGGERED: "red",  # needs someone
    AlertState.ACKNOWLEDGED: "amber",  # someone is on it
    AlertState.RESOLVED: "green",  # over
}

SHORT_NAMES = {
    AlertMetric.CPU: "CPU",
    AlertMetric.RAM: "Memory",
    AlertMetric.DISK: "Disk",
    AlertMetric.LOAD: "Load",
    AlertMetric.NETWORK: "Network",
    AlertMetric.HEALTH: "Reachable",
}
MAX_DURATION_MINUTES = 24 * 60  # samples are kept 48 h; a day's window is plenty

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    AlertOperator.GT: operator.gt,
    AlertOperator.GTE: operator.ge,
    AlertOperator.LT: operator.lt,
    AlertOperator.LTE: operator.le,
    AlertOperator.EQ: lambda value, threshold: abs(value - threshold) < 1e-9,
}


class RuleError(Exception):
    """A rule cannot be saved as given; `field` names the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# Rules ---------------------------------------------------------------------------------


@dataclass
class RuleData:
    """What a rule form (or an API call) gives; `save_rule` checks it against the team."""

    name: str
    metric: str
    operator: str
    threshold: float
    duration_minutes: int = 5
    scope: str = AlertScope.ALL
    server: Server | None = None
    group: ServerGroup | None = None
    tag: Tag | None = None
    hysteresis: float | None = None
    channels: list[Channel] = field(default_factory=list)
    escalate_after_minutes: int | None = None
    escalation_channels: list[Channel] = field(default_factory=list)
    enabled: bool = True


def default_hysteresis(metric: str, threshold: float) -> float:
    """5 points for the % metrics, 10% of the threshold for load and network, none for health."""
    if metric in PERCENT_METRICS:
        return 5.0
    if metric == AlertMetric.HEALTH:
        return 0.0
    return abs(threshold) * 0.1


def hysteresis_of(rule: AlertRule) -> float:
    return (
        rule.hysteresis
        if rule.hysteresis is not None
        else default_hysteresis(rule.metric, rule.threshold)
    )


def _validate(team: Any, data: RuleData) -> None:
    if not data.name.strip():
        raise RuleError("Give the rule a name.", "name")
    if data.metric not in AlertMetric.values:
        raise RuleError("Choose a metric.", "metric")
    if data.operator not in AlertOperator.values:
        raise RuleError("Choose a comparison.", "operator")
    if data.metric in PERCENT_METRICS and not 0 <= data.threshold <= 100:
        raise RuleError("A percentage is between 0 and 100.", "threshold")
    if data.metric == AlertMetric.HEALTH and data.threshold not in (0, 1):
        raise RuleError("Reachability is 1 (up) or 0 (down).", "threshold")
    if data.metric in (AlertMetric.LOAD, AlertMetric.NETWORK) and data.threshold < 0:
        raise RuleError("The threshold cannot be negative.", "threshold")
    if not 0 <= data.duration_minutes <= MAX_DURATION_MINUTES:
        raise RuleError(f"Between 0 and {MAX_DURATION_MINUTES} minutes.", "duration_minutes")
    if data.hysteresis is not None and data.hysteresis < 0:
        raise RuleError("The hysteresis cannot be negative.", "hysteresis")
    needed: dict[str, str] = {"server": "server", "group": "group", "tag": "tag"}
    if data.scope not in AlertScope.values:
        raise RuleError("Choose which servers the rule watches.", "scope")
    if data.scope in needed and getattr(data, needed[data.scope]) is None:
        raise RuleError(f"Choose the {needed[data.scope]} the rule watches.", needed[data.scope])
    for name in ("server", "group", "tag"):
        chosen = getattr(data, name)
        if chosen is not None and chosen.team_id != team.pk:
            raise RuleError(f"That {name} is not in {team}.", name)
    for name in ("channels", "escalation_channels"):
        if any(channel.team_id != team.pk for channel in getattr(data, name)):
            raise RuleError(f"Only channels of {team} can be used.", name)
    if data.escalate_after_minutes is not None:
        if data.escalate_after_minutes < 1:
            raise RuleError("At least one minute.", "escalate_after_minutes")
        if not data.escalation_channels:
            raise RuleError("Choose where to escalate to.", "escalation_channels")


def _apply(rule: AlertRule, data: RuleData) -> None:
    rule.name = data.name.strip()
    rule.enabled = data.enabled
    rule.metric = data.metric
    rule.operator = data.operator
    rule.threshold = data.threshold
    rule.duration_minutes = data.duration_minutes
    rule.hysteresis = data.hysteresis
    rule.scope = data.scope
    # Only the target of the chosen scope is kept, so a rule never has two meanings.
    rule.server = data.server if data.scope == AlertScope.SERVER else None
    rule.group = data.group if data.scope == AlertScope.GROUP else None
    rule.tag = data.tag if data.scope == AlertScope.TAG else None
    rule.escalate_after_minutes = data.escalate_after_minutes


def create_rule(team: Any, actor: Any, data: RuleData, request: Any = None) -> AlertRule:
    _validate(team, data)
    rule = AlertRule(team=team, created_by=actor)
    _apply(rule, data)
    with transaction.atomic():
        rule.save()
        rule.channels.set(data.channels)
        rule.escalation_channels.set(
            data.escalation_channels if data.escalate_after_minutes else []
        )
        audit.record("monitoring.alert_rule_created", actor=actor, team=team, target=rule,
                     request=request, details={"condition": describe_rule(rule)})  # fmt: skip
    return rule


def update_rule(rule: AlertRule, actor: Any, data: RuleData, request: Any = None) -> AlertRule:
    """Save the changes; disabling the rule resolves its open alerts (by `actor`)."""
    _validate(rule.team, data)
    _apply(rule, data)
    with transaction.atomic():
        rule.save()
        rule.channels.set(data.channels)
        rule.escalation_channels.set(
            data.escalation_channels if data.escalate_after_minutes else []
        )
        audit.record("monitoring.alert_rule_updated", actor=actor, team=rule.team, target=rule,
                     request=request, details={"condition": describe_rule(rule),
                                               "enabled": rule.enabled})  # fmt: skip
        if not rule.enabled:
            for alert in open_alerts(rule.team).filter(rule=rule):
                resolve(alert, actor, note="the rule was disabled", request=request)
    return rule


def delete_rule(rule: AlertRule, actor: Any, request: Any = None) -> None:
    """Resolve the rule's open alerts (so channels hear it is over), then delete it and them."""
    with transaction.atomic():
        for alert in open_alerts(rule.team).filter(rule=rule):
            resolve(alert, actor, note="the rule was deleted", request=request)
        audit.record("monitoring.alert_rule_deleted", actor=actor, team=rule.team, target=rule,
                     request=request, details={"condition": describe_rule(rule)})  # fmt: skip
        rule.delete()


def describe_rule(rule: AlertRule) -> str:
    """`Memory > 90 % for 5 min`, as the pages and notifications say it."""
    unit = {AlertMetric.NETWORK: " Mbit/s", **dict.fromkeys(PERCENT_METRICS, " %")}
    condition = f"{SHORT_NAMES[AlertMetric(rule.metric)]} {AlertOperator(rule.operator).label} "
    condition += _number(rule.threshold) + unit.get(AlertMetric(rule.metric), "")
    if rule.duration_minutes:
        condition += f" for {rule.duration_minutes} min"
    return condition


def _message(rule: AlertRule, server: Server, value: float) -> str:
    if rule.metric == AlertMetric.HEALTH:
        state = "reachable" if value >= 0.5 else "unreachable"
        return f"{server.name} is {state} ({describe_rule(rule)})"
    shown = format_value(rule.metric, value)
    return (
        f"{server.name}: {SHORT_NAMES[AlertMetric(rule.metric)]} is {shown} ({describe_rule(rule)})"
    )


def scope_label(rule: AlertRule) -> str:
    target = {AlertScope.SERVER: rule.server, AlertScope.GROUP: rule.group,
              AlertScope.TAG: rule.tag}.get(AlertScope(rule.scope))  # fmt: skip
    if rule.scope == AlertScope.ALL:
        return "All servers"
    return f"{AlertScope(rule.scope).label}: {target}"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_value(metric: str, value: float | None) -> str:
    """A reading as a person reads it: `93.2 %`, `1.5`, `12 Mbit/s`, `down`."""
    if value is None:
        return "—"
    if metric == AlertMetric.HEALTH:
        return "up" if value >= 0.5 else "down"
    if metric in PERCENT_METRICS:
        return f"{value:.1f} %"
    if metric == AlertMetric.NETWORK:
        return f"{_number(value)} Mbit/s"
    return _number(value)


def breaches(rule: AlertRule, value: float) -> bool:
    return _COMPARE[rule.operator](value, rule.threshold)


def clears(rule: AlertRule, value: float) -> bool:
    """Whether `value` is back past the threshold by the hysteresis margin."""
    margin = hysteresis_of(rule)
    if rule.operator == AlertOperator.EQ:
        return abs(value - rule.threshold) > margin
    shifted = rule.threshold - margin if rule.operator in (">", ">=") else rule.threshold + margin
    return not _COMPARE[rule.operator](value, shifted)


# Conditions and evaluation ------------------------------------------------------------------------


@dataclass
class Outcome:
    triggered: int = 0
    resolved: int = 0
    escalated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"triggered": self.triggered, "resolved": self.resolved, "escalated": self.escalated}


def evaluate(now: datetime | None = None) -> Outcome:
    """Check every enabled rule against its servers' readings, then escalate overdue alerts."""
    now = now or timezone.now()
    outcome = Outcome()
    rules = AlertRule.objects.filter(enabled=True).select_related("team", "server", "group", "tag")
    for rule in rules:
        evaluate_rule(rule, now, outcome)
    outcome.escalated = escalate_overdue(now)
    return outcome


def evaluate_rule(rule: AlertRule, now: datetime, outcome: Outcome | None = None) -> Outcome:
    outcome = outcome or Outcome()
    servers = list(servers_in_scope(rule))
    longest = max(slack(rule.metric, s) for s in servers) if servers else timedelta()
    since = now - timedelta(minutes=rule.duration_minutes) - longest
    series = readings(rule.metric, servers, since)
    open_by_server = {
        a.server_id: a for a in Alert.objects.filter(rule=rule, state__in=OPEN_STATES)
    }
    for server in servers:
        held = window(rule, server, series[server.pk], now)
        alert = open_by_server.pop(server.pk, None)
        if alert is None:
            breached = bool(held) and all(breaches(rule, r.value) for r in held)
            if breached and _trigger(rule, server, held[-1].value, now) is not None:
                outcome.triggered += 1
            continue
        if held and held[-1].value != alert.last_value:
            Alert.objects.filter(pk=alert.pk).update(last_value=held[-1].value)
            alert.last_value = held[-1].value
        cleared = bool(held) and all(clears(rule, r.value) for r in held)
        note = f"back to {format_value(rule.metric, held[-1].value)}" if held else ""
        if cleared and resolve(alert, None, now=now, note=note):
            outcome.resolved += 1
    # Open alerts of servers the rule no longer watches (moved out of the group, untagged).
    for alert in open_by_server.values():
        if resolve(alert, None, now=now, note="the server is no longer in the rule's scope"):
            outcome.resolved += 1
    return outcome


def _trigger(rule: AlertRule, server: Server, value: float, now: datetime) -> Alert | None:
    """Open an alert and notify the rule's channels; None if one is already open."""
    message = _message(rule, server, value)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                team_id=rule.team_id, rule=rule, server=server, value=value, last_value=value,
                message=message[:500], triggered_at=now,
            )  # fmt: skip
    except IntegrityError:
        return None  # another evaluation opened it a moment ago, and notified
    audit.record("monitoring.alert_triggered", team=rule.team, target=alert,
                 source=ActivitySource.SYSTEM, details={"value": value})  # fmt: skip
    notifications.emit(
        rule.team,
        "alert.triggered",
        title=f"Alert: {rule.name} on {server.name}",
        body=message,
        link=_link(alert),
        channels=list(rule.channels.all()) or None,
        data={"alert": alert_facts(alert)},
    )
    return alert


def alert_facts(alert: Alert) -> dict[str, Any]:
    """What an event webhook's `data.alert` holds (docs/notifications.md)."""
    rule = alert.rule
    return {
        "id": alert.pk,
        "state": alert.state,
        "rule": {"id": rule.pk, "name": rule.name, "metric": rule.metric,
                 "operator": rule.operator, "threshold": rule.threshold},
        "server": {"id": alert.server_id, "name": alert.server.name},
        "value": alert.value,
        "last_value": alert.last_value,
        "message": alert.message,
        "triggered_at": alert.triggered_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by": alert.resolved_by.get_username() if alert.resolved_by else None,
    }  # fmt: skip


def _link(alert: Alert) -> str:
    return notifications.link_to(reverse("monitoring:alert_detail", args=[alert.pk]))


def escalate_overdue(now: datetime | None = None) -> int:
    """Notify the escalation channels of alerts nobody acknowledged in time; return how many."""
    now = now or timezone.now()
    candidates = Alert.objects.filter(
        state=AlertState.TRIGGERED,
        escalated_at__isnull=True,
        rule__enabled=True,
        rule__escalate_after_minutes__isnull=False,
    ).select_related("rule", "server", "team")
    escalated = 0
    for alert in candidates:
        rule = alert.rule
        assert rule.escalate_after_minutes is not None
        if alert.triggered_at > now - timedelta(minutes=rule.escalate_after_minutes):
            continue
        claimed = Alert.objects.filter(
            pk=alert.pk, state=AlertState.TRIGGERED, escalated_at__isnull=True
        ).update(escalated_at=now)
        if claimed != 1:
            continue  # acknowledged, resolved or escalated in the meantime
        escalated += 1
        audit.record("monitoring.alert_escalated", team=alert.team, target=alert,
                     source=ActivitySource.SYSTEM)  # fmt: skip
        notifications.emit(
            alert.team,
            "alert.escalated",
            title=f"Escalated: {rule.name} on {alert.server.name}",
            body=f"Not acknowledged within {rule.escalate_after_minutes} min. {alert.message}",
            link=_link(alert),
            channels=list(rule.escalation_channels.all()) or None,
            data={"alert": alert_facts(alert)},
        )
    return escalated


# By hand, and resolving ----------------------------------------------------------------


def acknowledge(alert: Alert, user: Any, request: Any = None) -> bool:
    """Mark a triggered alert as being looked at: it stops escalating. False if not triggered."""
    now = timezone.now()
    claimed = Alert.objects.filter(pk=alert.pk, state=AlertState.TRIGGERED).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
    )
    if claimed != 1:
        return False
    alert.state, alert.acknowledged_at, alert.acknowledged_by = AlertState.ACKNOWLEDGED, now, user
    audit.record("monitoring.alert_acknowledged", actor=user, team=alert.team, target=alert,
                 request=request)  # fmt: skip
    return True


def resolve(
    alert: Alert,
    user: Any,
    *,
    now: datetime | None = None,
    note: str = "",
    request: Any = None,
) -> bool:
    """Close an open alert (`user` None: it resolved itself) and notify; False if already closed.

    The rule's channels hear it, and the escalation channels too once it was escalated.
    """
    now = now or timezone.now()
    claimed = Alert.objects.filter(pk=alert.pk, state__in=OPEN_STATES).update(
        state=AlertState.RESOLVED, resolved_at=now, resolved_by=user
    )
    if claimed != 1:
        return False
    alert.refresh_from_db()
    rule = alert.rule
    by = f"resolved by {user.get_username()}" if user is not None else "resolved"
    audit.record("monitoring.alert_resolved", actor=user, team=alert.team, target=alert,
                 request=request,
                 source=ActivitySource.WEB if user is not None else ActivitySource.SYSTEM,
                 details={"note": note} if note else {})  # fmt: skip
    notifications.emit(
        alert.team,
        "alert.resolved",
        title=f"Resolved: {rule.name} on {alert.server.name}",
        body=f"{alert.message} — {by}" + (f" ({note})" if note else "") + ".",
        link=_link(alert),
        channels=_resolution_channels(alert),
        data={"alert": alert_facts(alert)},
    )
    return True


def _resolution_channels(alert: Alert) -> list[Channel] | None:
    channels = list(alert.rule.channels.all())
    if alert.escalated_at is None:
        return channels or None
    if not channels:
        channels = [c for c in Channel.objects.filter(team_id=alert.team_id) if c.wants(
            "alert.resolved")]  # fmt: skip
    escalation = list(alert.rule.escalation_channels.all())
    return list({c.pk: c for c in [*channels, *escalation]}.values())


# Reading the history -------------------------------------------------------------------


def open_alerts(team: Any) -> QuerySet[Alert]:
    """Open alerts, the ones nobody acknowledged first, newest first."""
    return (
        Alert.objects.filter(team=team, state__in=OPEN_STATES)
        .select_related("rule", "server", "acknowledged_by")
        .order_by("-state", "-triggered_at", "-id")  # "triggered" > "acknowledged"
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def history(
    team: Any,
    *,
    states: Iterable[str] = (),
    rule: AlertRule | None = None,
    server: Server | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Alert]:
    """The team's alerts, newest first, filtered; `since`/`until` are days, both included."""
    rows = Alert.objects.filter(team=team).select_related(
        "rule", "server", "acknowledged_by", "resolved_by"
    )
    chosen = [s for s in states if s in AlertState.values]
    if chosen:
        rows = rows.filter(state__in=chosen)
    if rule is not None:
        rows = rows.filter(rule=rule)
    if server is not None:
        rows = rows.filter(server=server)
    if since is not None:
        rows = rows.filter(triggered_at__gte=_day_start(since))
    if until is not None:
        rows = rows.filter(triggered_at__lt=_day_start(until + timedelta(days=1)))
    return rows.order_by("-triggered_at", "-id")


def open_count(team: Any) -> int:
    return Alert.objects.filter(team=team, state__in=OPEN_STATES).count()


def timeline(alert: Alert) -> list[tuple[datetime, str]]:
    """(when, what happened) for the alert's page, oldest first."""
    events = [(alert.triggered_at, f"Triggered at {format_value(alert.rule.metric, alert.value)}")]
    if alert.escalated_at:
        events.append((alert.escalated_at, "Escalated: nobody acknowledged it in time"))
    if alert.acknowledged_at:
        who = alert.acknowledged_by.get_username() if alert.acknowledged_by else "a deleted user"
        events.append((alert.acknowledged_at, f"Acknowledged by {who}"))
    if alert.resolved_at:
        if alert.resolved_by:
            events.append((alert.resolved_at, f"Resolved by {alert.resolved_by.get_username()}"))
        else:
            events.append((alert.resolved_at, "Resolved itself"))
    return sorted(events, key=lambda event: event[0])
