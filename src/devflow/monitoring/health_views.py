"""Health check pages: the dashboard, one check (chart, results), the form, the actions.

Each view looks up (another team's check is a 404), authorizes (a viewer changing
anything is a 403), calls `health` and renders. Running a check is a queued job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from devflow.accounts.choices import Action
from devflow.accounts.models import Team
from devflow.core.access import current_team, fetch, me
from devflow.core.tenancy import can
from devflow.monitoring import health, health_queries
from devflow.monitoring.health_forms import HealthCheckForm, HealthFilterForm
from devflow.monitoring.models import CheckOutcome, CheckStatus, HealthCheck
from devflow.projects.models import Project

DEFAULT_RANGE = "24h"


@dataclass
class Row:
    check: HealthCheck
    label: str
    colour: str
    uptime: list[str]  # 24 h, 7 d, 30 d
    tls_days: int | None
    tls_colour: str


def percent(value: float | None) -> str:
    """99.95%; 100% only when nothing failed at all; "—" without results."""
    if value is None:
        return "—"
    if value == 100:
        return "100%"
    return f"{min(value, 99.99):.2f}%"


def tls_colour(check: HealthCheck, days: int | None) -> str:
    if days is None:
        return ""
    if days < 0:
        return "red"
    return "amber" if days < check.tls_warn_days else "green"


def _rows(checks: list[HealthCheck], now: datetime) -> list[Row]:
    uptimes = health_queries.uptimes([c.pk for c in checks], now)
    rows = []
    for check in checks:
        label, colour = health.badge(check)
        days = health_queries.tls_days_left(check, now)
        rows.append(
            Row(
                check,
                label,
                colour,
                [percent(uptimes[check.pk][key]) for key in health_queries.UPTIME_WINDOWS],
                days,
                tls_colour(check, days),
            )
        )
    return rows


def _summary(team: Team) -> dict[str, int]:
    """How many checks are in each state (paused ones apart), for the dashboard's head."""
    counts = dict.fromkeys([*CheckStatus.values, "paused"], 0)
    for row in (
        HealthCheck.objects.filter(team=team).values("status", "enabled").annotate(n=Count("pk"))
    ):
        counts["paused" if not row["enabled"] else row["status"]] += row["n"]
    return counts


@login_required
@require_GET
def health_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    checks = HealthCheck.objects.for_user(me(request)).filter(team=team).select_related("project")
    filters = HealthFilterForm(request.GET or None, team=team)
    status, project = "", None
    if filters.is_valid():
        status = filters.cleaned_data["status"]
        project = filters.cleaned_data["project"]
    if status == "paused":
        checks = checks.filter(enabled=False)
    elif status:
        checks = checks.filter(enabled=True, status=status)
    if project is not None:
        checks = checks.filter(project=project)
    summary = _summary(team)
    context = {
        "team": team,
        "rows": _rows(list(checks), timezone.now()),
        "filters": filters,
        "filtered": bool(status or project),
        "status": status,
        "summary": summary,
        "total": sum(summary.values()),
        "can_edit": can(request.user, Action.EDIT, team),
    }
    return render(request, "monitoring/health_list.html", context)


def _form_page(
    request: HttpRequest, form: HealthCheckForm, check: HealthCheck | None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "monitoring/health_form.html",
        {"form": form, "check": check, "min_interval": health.MIN_INTERVAL},
        status=status,
    )


@login_required
def health_new(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.EDIT)
    if request.method != "POST":
        initial: dict[str, Any] = {}
        wanted = request.GET.get("project", "")
        project = (
            Project.objects.filter(team=team, pk=int(wanted)).first() if wanted.isdigit() else None
        )
        if project is not None:
            initial["project"] = project
        return _form_page(request, HealthCheckForm(team=team, initial=initial), None)
    form = HealthCheckForm(request.POST, team=team)
    if form.is_valid():
        try:
            check = health.create(me(request), team, form.data_for_service(), request=request)
        except health.CheckError as error:
            form.show_errors(error)
        else:
            messages.success(request, f"Added “{check.name}”: its first check runs within seconds.")
            return redirect("monitoring:health_detail", check_id=check.pk)
    return _form_page(request, form, None, status=400)


@login_required
def health_edit(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("team"), Action.EDIT, pk=check_id)
    if request.method != "POST":
        initial = vars(health.CheckData.of(check))
        return _form_page(request, HealthCheckForm(team=check.team, initial=initial), check)
    form = HealthCheckForm(request.POST, team=check.team)
    if form.is_valid():
        try:
            health.update(me(request), check, form.data_for_service(), request=request)
        except health.CheckError as error:
            form.show_errors(error)
        else:
            messages.success(request, f"Saved “{check.name}”; it is checked again within seconds.")
            return redirect("monitoring:health_detail", check_id=check.pk)
    return _form_page(request, form, check, status=400)


def _range(request: HttpRequest) -> str | None:
    key = request.GET.get("range", DEFAULT_RANGE)
    return key if key in health_queries.RANGES else None


@login_required
@require_GET
def health_detail(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("project", "team"), pk=check_id)
    now = timezone.now()
    label, colour = health.badge(check)
    results = health_queries.recent(check)
    tls_days = health_queries.tls_days_left(check, now)
    context = {
        "check": check,
        "label": label,
        "colour": colour,
        "uptime": [
            (key, percent(value))
            for key, value in health_queries.uptimes([check.pk], now)[check.pk].items()
        ],
        "tls_days": tls_days,
        "tls_colour": tls_colour(check, tls_days),
        "results": [(r, health.OUTCOME_COLOURS[CheckOutcome(r.outcome)]) for r in results],
        "ranges": [
            {"key": key, "label": r.label, "short": key} for key, r in health_queries.RANGES.items()
        ],
        "range": _range(request) or DEFAULT_RANGE,
        "spans": {key: int(r.span.total_seconds()) for key, r in health_queries.RANGES.items()},
        "can_edit": can(request.user, Action.EDIT, check),
        "can_run": can(request.user, Action.DEPLOY, check),
    }
    return render(request, "monitoring/health_detail.html", context)


@login_required
@require_GET
def health_series(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.all(), pk=check_id)
    key = _range(request)
    if key is None:
        return JsonResponse(
            {"error": f"range must be one of {', '.join(health_queries.RANGES)}"}, status=400
        )
    return JsonResponse(health_queries.series(check, key))


@login_required
@require_POST
def health_delete(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("team"), Action.EDIT, pk=check_id)
    name = check.name
    health.delete(me(request), check, request=request)
    messages.success(request, f"Deleted the health check “{name}” and its history.")
    return redirect("monitoring:health_list")


@login_required
@require_POST
def health_pause(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("team"), Action.EDIT, pk=check_id)
    health.set_enabled(me(request), check, False, request=request)
    messages.success(
        request, f"Paused “{check.name}”: no checks and no notifications until resumed."
    )
    return redirect("monitoring:health_detail", check_id=check.pk)


@login_required
@require_POST
def health_resume(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("team"), Action.EDIT, pk=check_id)
    health.set_enabled(me(request), check, True, request=request)
    messages.success(request, f"Resumed “{check.name}”: it is checked again within seconds.")
    return redirect("monitoring:health_detail", check_id=check.pk)


@login_required
@require_POST
def health_run(request: HttpRequest, check_id: int) -> HttpResponse:
    check = fetch(request, HealthCheck.objects.select_related("team"), Action.DEPLOY, pk=check_id)
    if not check.enabled:
        messages.error(request, f"“{check.name}” is paused; resume it to check it.")
        return redirect("monitoring:health_detail", check_id=check.pk)
    job = health.check_now(me(request), check, request=request)
    messages.success(request, f"Queued a check of “{check.name}” (job #{job.pk}).")
    return redirect("monitoring:health_detail", check_id=check.pk)
