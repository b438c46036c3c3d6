"""Alert pages: open alerts and their history, one alert's timeline, and the alert rules.

Each view looks up (another team's rule or alert is a 404), authorizes (acknowledging and
resolving need the deployer role, rules the maintainer role; lower is a 403), calls
`alerts` and renders or redirects.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import current_team, fetch, me
from devflow.core.tenancy import can
from devflow.monitoring import alerts
from devflow.monitoring.alert_forms import AlertFilterForm, AlertRuleForm
from devflow.monitoring.models import Alert, AlertRule, AlertState

PAGE_SIZE = 25


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert,
        "colour": alerts.STATE_COLOURS[AlertState(alert.state)],
        "value": alerts.format_value(alert.rule.metric, alert.value),
        "last_value": alerts.format_value(alert.rule.metric, alert.last_value),
    }


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open alerts on top (unacknowledged first), then the whole history, filtered."""
    team = current_team(request)
    filters = AlertFilterForm(request.GET, team=team)
    history = alerts.history(team, **filters.filters())
    page = Paginator(history, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "monitoring/alerts.html",
        {
            "team": team,
            "open_rows": [_row(a) for a in alerts.open_alerts(team)],
            "page": page,
            "rows": [_row(a) for a in page],
            "filters": filters,
            "filtered": any(request.GET.get(name) for name in filters.fields),
            "can_act": can(request.user, Action.DEPLOY, team),
            "has_rules": AlertRule.objects.filter(team=team).exists(),
        },
    )


@login_required
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = fetch(
        request,
        Alert.objects.select_related("rule", "server", "acknowledged_by", "resolved_by"),
        pk=alert_id,
    )
    return render(
        request,
        "monitoring/alert_detail.html",
        {
            **_row(alert),
            "condition": alerts.describe_rule(alert.rule),
            "scope": alerts.scope_label(alert.rule),
            "timeline": alerts.timeline(alert),
            "can_act": can(request.user, Action.DEPLOY, alert),
            "can_edit": can(request.user, Action.EDIT, alert),
        },
    )


def _back(request: HttpRequest, alert: Alert) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("monitoring:alert_detail", args=[alert.pk])
    return redirect(target)


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = fetch(request, Alert.objects.select_related("rule", "server"), Action.DEPLOY,
                  pk=alert_id)  # fmt: skip
    if alerts.acknowledge(alert, me(request), request=request):
        messages.success(request, f"Acknowledged “{alert.rule.name}” on {alert.server.name}: "
                                  "it no longer escalates.")  # fmt: skip
    else:
        messages.info(request, "That alert is no longer waiting for acknowledgement.")
    return _back(request, alert)


@login_required
@require_POST
def alert_resolve(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = fetch(request, Alert.objects.select_related("rule", "server"), Action.DEPLOY,
                  pk=alert_id)  # fmt: skip
    if alerts.resolve(alert, me(request), note="by hand", request=request):
        messages.success(request, f"Resolved “{alert.rule.name}” on {alert.server.name}. If the "
                                  "condition still holds, a new alert starts.")  # fmt: skip
    else:
        messages.info(request, "That alert was already resolved.")
    return _back(request, alert)


# Rules ---------------------------------------------------------------------------------


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    rules = (
        AlertRule.objects.filter(team=team)
        .select_related("server", "group", "tag")
        .prefetch_related("channels", "escalation_channels")
    )
    open_counts: dict[int, int] = {}
    for rule_id in alerts.open_alerts(team).values_list("rule_id", flat=True):
        open_counts[rule_id] = open_counts.get(rule_id, 0) + 1
    rows = [
        {
            "rule": rule,
            "condition": alerts.describe_rule(rule),
            "scope": alerts.scope_label(rule),
            "open": open_counts.get(rule.pk, 0),
        }
        for rule in rules
    ]
    return render(
        request,
        "monitoring/alert_rules.html",
        {"team": team, "rows": rows, "can_edit": can(request.user, Action.EDIT, team)},
    )


def _save(request: HttpRequest, form: AlertRuleForm, rule: AlertRule | None) -> AlertRule | None:
    """Validate and save; on a refusal put the message on its field and return None."""
    if not form.is_valid():
        return None
    try:
        if rule is None:
            team = current_team(request, Action.EDIT)
            return alerts.create_rule(team, me(request), form.data_for_service(), request=request)
        return alerts.update_rule(rule, me(request), form.data_for_service(), request=request)
    except alerts.RuleError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return None


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.EDIT)
    form = AlertRuleForm(request.POST or None, team=team)
    if request.method == "POST":
        rule = _save(request, form, None)
        if rule is not None:
            messages.success(request, f"Added the alert rule “{rule.name}”.")
            return redirect("monitoring:alert_rules")
    return render(request, "monitoring/alert_rule_form.html", {"form": form, "rule": None},
                  status=400 if form.errors else 200)  # fmt: skip


@login_required
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = fetch(request, AlertRule.objects.all(), Action.EDIT, pk=rule_id)
    if request.method == "POST":
        form = AlertRuleForm(request.POST, team=rule.team)
        if _save(request, form, rule) is not None:
            messages.success(request, f"Saved the alert rule “{rule.name}”.")
            return redirect("monitoring:alert_rules")
    else:
        form = AlertRuleForm(initial=AlertRuleForm.initial_for(rule), team=rule.team)
    return render(request, "monitoring/alert_rule_form.html", {"form": form, "rule": rule},
                  status=400 if form.errors else 200)  # fmt: skip


@login_required
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    """GET asks to confirm; POST deletes the rule and its alert history."""
    rule = fetch(request, AlertRule.objects.all(), Action.EDIT, pk=rule_id)
    if request.method == "POST":
        name = rule.name
        alerts.delete_rule(rule, me(request), request=request)
        messages.success(request, f"Deleted the alert rule “{name}” and its alerts.")
        return redirect("monitoring:alert_rules")
    return render(
        request,
        "monitoring/alert_rule_delete.html",
        {
            "rule": rule,
            "condition": alerts.describe_rule(rule),
            "open": alerts.open_alerts(rule.team).filter(rule=rule).count(),
            "total": rule.alerts.count(),
        },
    )
