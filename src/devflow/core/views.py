"""Pages of the core: dashboard, jobs with live logs, the activity log, settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core import audit
from devflow.core.access import current_team, fetch
from devflow.core.jobs import JOB_KINDS, enqueue, log_update, request_cancel
from devflow.core.models import ActivityLog, ActivitySource, Job, JobStatus, JobTrigger
from devflow.core.tenancy import can

PAGE_SIZE = 50


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    team = request.team  # type: ignore[attr-defined]
    jobs = Job.objects.for_user(request.user).filter(team=team).select_related("actor")[:10]
    activity = ActivityLog.objects.filter(team=team).select_related("actor")[:10] if team else []
    from devflow.deployments.models import Deployment
    from devflow.servers.models import Server

    servers = Server.objects.filter(team=team).order_by("-status", "name")[:8] if team else []
    deployments = (
        Deployment.objects.for_user(request.user)
        .filter(team=team)
        .select_related("project", "environment", "job")[:6]
    )
    return render(
        request,
        "core/dashboard.html",
        {"jobs": jobs, "activity": activity, "servers": servers, "deployments": deployments},
    )


@login_required
def section_pending(request: HttpRequest, section: str) -> HttpResponse:
    """Pages of the parts that do not exist yet (none at the moment)."""
    titles: dict[str, str] = {}
    if section not in titles:
        raise Http404
    return render(request, "core/section_pending.html", {"section": titles[section]})


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    team = request.team  # type: ignore[attr-defined]
    jobs = Job.objects.for_user(request.user).filter(team=team).select_related("actor")
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    if kind:
        jobs = jobs.filter(kind=kind)
    if status in JobStatus.values:
        jobs = jobs.filter(status=status)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "core/job_list.html",
        {
            "page": page,
            "kinds": sorted(JOB_KINDS),
            "statuses": JobStatus.choices,
            "kind": kind,
            "status": status,
        },
    )


def _job_for(request: HttpRequest, job_id: int, action: str = Action.VIEW) -> Job:
    return fetch(request, Job.objects.all(), action, pk=job_id)


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    lines = job.log_lines.all()
    return render(
        request,
        "core/job_detail.html",
        {
            "job": job,
            "lines": lines,
            "can_cancel": can(request.user, Action.DEPLOY, job),
        },
    )


@login_required
def job_log(request: HttpRequest, job_id: int) -> HttpResponse:
    """The log lines after `after` and the job's status, for live polling."""
    job = _job_for(request, job_id)
    try:
        after = int(request.GET.get("after", "-1"))
    except ValueError:
        after = -1
    return JsonResponse(log_update(job.pk, after))


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id, Action.DEPLOY)
    if job.is_finished:
        messages.info(request, f"Job #{job.pk} had already finished.")
    else:
        status = request_cancel(job)
        audit.record(
            "job.cancel_requested",
            actor=request.user,
            team=job.team,
            target=job,
            request=request,
            details={"status": status},
        )
        messages.success(request, f"Asked job #{job.pk} to stop.")
    return redirect("job_detail", job_id=job.pk)


@login_required
def activity(request: HttpRequest) -> HttpResponse:
    team = request.team  # type: ignore[attr-defined]
    rows = ActivityLog.objects.for_user(request.user).filter(team=team).select_related("actor")
    filters = {
        "action": request.GET.get("action", "").strip(),
        "actor": request.GET.get("actor", "").strip(),
        "source": request.GET.get("source", ""),
        "result": request.GET.get("result", ""),
    }
    if filters["action"]:
        rows = rows.filter(action__icontains=filters["action"])
    if filters["actor"]:
        rows = rows.filter(actor_label__icontains=filters["actor"])
    if filters["source"] in ActivitySource.values:
        rows = rows.filter(source=filters["source"])
    if filters["result"] in ("success", "failure", "denied"):
        rows = rows.filter(result=filters["result"])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "core/activity.html",
        {
            "page": page,
            "filters": filters,
            "sources": ActivitySource.choices,
        },
    )


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    team = request.team  # type: ignore[attr-defined]
    last_check = (
        Job.objects.for_user(request.user).filter(team=team, kind="core.diagnostics").first()
    )
    return render(request, "core/settings.html", {"last_check": last_check})


@login_required
@require_POST
def run_diagnostics(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.DEPLOY)
    job = enqueue("core.diagnostics", team=team, actor=request.user, trigger=JobTrigger.WEB)
    audit.record("job.started", actor=request.user, team=team, target=job, request=request)
    messages.success(request, f"Queued installation check #{job.pk}.")
    return redirect("job_detail", job_id=job.pk)
