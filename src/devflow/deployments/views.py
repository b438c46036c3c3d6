"""Deployment pages: the team's list, one deployment live, and the actions that start one.

Every action only writes rows and queues a job ("Queued deployment #N"); the
pipeline runs in a worker.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import current_team, fetch, me
from devflow.core.models import JobStatus
from devflow.core.tenancy import can
from devflow.deployments import scheduling, services
from devflow.deployments.forms import (
    LOCAL_TIME_FORMAT,
    DeployForm,
    DeploymentFilterForm,
    ScheduleForm,
)
from devflow.deployments.models import (
    Deployment,
    DeployTrigger,
    Release,
    ReleaseStatus,
    ScheduledDeployment,
)
from devflow.projects.models import Environment
from devflow.projects.services import ProjectError
from devflow.projects.validation import format_commands
from devflow.projects.views.common import detail_url, duration_label

PAGE_SIZE = 25
COMMAND_LISTS = [
    ("build_commands", "Build"),
    ("deploy_commands", "Deploy commands"),
    ("post_deploy_commands", "Post-deploy commands"),
]


@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    rows = (
        Deployment.objects.for_user(me(request))
        .filter(team=team)
        .select_related("project", "environment", "job", "actor")
    )
    filters = DeploymentFilterForm(request.GET or None, team=team)
    if filters.is_valid():
        if filters.cleaned_data["project"]:
            rows = rows.filter(project=filters.cleaned_data["project"])
        if filters.cleaned_data["status"]:
            rows = rows.filter(job__status=filters.cleaned_data["status"])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for deployment in page:
        seconds = deployment.job.duration_seconds if deployment.job else None
        deployment.duration = duration_label(seconds)  # type: ignore[attr-defined]
    return render(request, "deployments/deployment_list.html", {"page": page, "filters": filters})


def _deployment(request: HttpRequest, deployment_id: int, action: str = Action.VIEW) -> Deployment:
    return fetch(
        request,
        Deployment.objects.select_related(
            "project", "environment", "job", "actor", "rollback_of", "redeploy_of"
        ),
        action,
        pk=deployment_id,
    )


def _release_of(deployment: Deployment) -> Release | None:
    return Release.objects.filter(deployment=deployment).first()


def _snapshot(deployment: Deployment) -> dict[str, Any]:
    """What the deployment ran with, for the page: commands and settings, variable names only."""
    snapshot = deployment.pipeline_snapshot or {}
    commands = [
        (label, format_commands(snapshot.get(key) or []))
        for key, label in COMMAND_LISTS
        if snapshot.get(key)
    ]
    return {
        "commands": commands,
        "smoke": snapshot.get("smoke_command", ""),
        "shared_paths": snapshot.get("shared_paths") or [],
        "repository_url": snapshot.get("repository_url", ""),
        "deploy_path": snapshot.get("deploy_path", ""),
        "health_check_url": snapshot.get("health_check_url", ""),
        "keep_releases": snapshot.get("keep_releases"),
        "command_timeout": snapshot.get("command_timeout_seconds"),
        "deploy_timeout": snapshot.get("deploy_timeout_seconds"),
        "health_retries": snapshot.get("health_check_retries"),
        "requested_sha": snapshot.get("requested_sha", ""),
        "variable_names": sorted(deployment.environment_variables().keys()),
    }


def _steps(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {**step, "duration": duration_label(step.get("seconds"))} for step in deployment.steps or []
    ]


@login_required
def deployment_detail(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    job = deployment.job
    release = _release_of(deployment)
    can_deploy = can(request.user, Action.DEPLOY, deployment)
    # A kept release can be switched back to; a purged or failed one needs its commit rebuilt.
    rollback_release = release if release and release.can_roll_back_to else None
    gone = release is None or release.status in (ReleaseStatus.PURGED, ReleaseStatus.FAILED)
    can_redeploy = (
        deployment.is_finished
        and bool(deployment.commit_sha)
        and gone
        and deployment.rollback_of_id is None
    )
    return render(
        request,
        "deployments/deployment_detail.html",
        {
            "deployment": deployment,
            "job": job,
            "release": release,
            "rollback_release": rollback_release,
            "can_redeploy": can_redeploy,
            "can_deploy": can_deploy,
            "steps": _steps(deployment),
            "lines": job.log_lines.all() if job else [],
            "duration": duration_label(job.duration_seconds if job else None),
            "snapshot": _snapshot(deployment),
            "environment_url": detail_url(deployment.environment),
            "delivery": _delivery_of(deployment),
        },
    )


def _delivery_of(deployment: Deployment) -> Any:
    """The webhook delivery that started this deployment, if one did."""
    if deployment.trigger != DeployTrigger.WEBHOOK:
        return None
    from devflow.webhooks.models import Delivery
    from devflow.webhooks.providers import RECEIVERS

    delivery = Delivery.objects.filter(deployments=deployment).order_by("id").first()
    if delivery is not None:
        receiver = RECEIVERS.get(delivery.provider)
        delivery.label = receiver.label if receiver else delivery.provider  # type: ignore[attr-defined]
    return delivery


@login_required
def deployment_steps(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """The steps table alone; the page polls it every second until the deployment ends."""
    deployment = _deployment(request, deployment_id)
    return render(
        request,
        "deployments/_steps.html",
        {"deployment": deployment, "job": deployment.job, "steps": _steps(deployment)},
    )


def _environment(request: HttpRequest, environment_id: int, action: str) -> Environment:
    return fetch(
        request, Environment.objects.select_related("project__team"), action, pk=environment_id
    )


@login_required
@require_POST
def deploy(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = _environment(request, environment_id, Action.DEPLOY)
    form = DeployForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(detail_url(environment))
    try:
        deployment = services.request_deployment(
            me(request),
            environment,
            if_busy=form.cleaned_data["if_busy"],
            commit_sha=form.cleaned_data["commit_sha"],
            request=request,
        )
    except ProjectError as error:
        messages.error(request, str(error))
        return redirect(detail_url(environment))
    what = deployment.requested_sha[:8] or deployment.branch
    messages.success(
        request, f"Queued deployment #{deployment.pk} of {what} to {environment.name}."
    )
    return redirect("deployments:detail", deployment_id=deployment.pk)


@login_required
@require_POST
def cancel(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = _deployment(request, deployment_id, Action.DEPLOY)
    try:
        status = services.cancel_deployment(me(request), deployment, request=request)
    except ProjectError as error:
        messages.info(request, str(error))
    else:
        if status == JobStatus.CANCELLED:
            messages.success(request, f"Cancelled deployment #{deployment.pk} before it started.")
        else:
            messages.success(request, f"Asked deployment #{deployment.pk} to stop.")
    return redirect("deployments:detail", deployment_id=deployment.pk)


@login_required
@require_POST
def rollback(request: HttpRequest, release_id: int) -> HttpResponse:
    release = fetch(
        request,
        Release.objects.select_related("environment__project__team", "deployment"),
        Action.DEPLOY,
        pk=release_id,
    )
    try:
        deployment = services.request_rollback(me(request), release, request=request)
    except ProjectError as error:
        messages.error(request, str(error))
        return redirect(detail_url(release.environment))
    messages.success(
        request, f"Queued deployment #{deployment.pk}: roll back to release {release.name}."
    )
    return redirect("deployments:detail", deployment_id=deployment.pk)


@login_required
@require_POST
def redeploy(request: HttpRequest, deployment_id: int) -> HttpResponse:
    previous = _deployment(request, deployment_id, Action.DEPLOY)
    try:
        deployment = services.request_redeploy(me(request), previous, request=request)
    except ProjectError as error:
        messages.error(request, str(error))
        return redirect("deployments:detail", deployment_id=previous.pk)
    messages.success(
        request,
        f"Queued deployment #{deployment.pk}: build {previous.short_sha} again.",
    )
    return redirect("deployments:detail", deployment_id=deployment.pk)


@login_required
def schedule_new(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = _environment(request, environment_id, Action.DEPLOY)
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            schedule = scheduling.schedule_deployment(
                me(request),
                environment,
                data["run_at"],
                data["timezone"],
                remind_minutes_before=data["remind_minutes_before"],
                note=data["note"],
                request=request,
            )
        except ProjectError as error:
            form.add_error(None, str(error))
        else:
            when = scheduling.local_run_at(schedule)
            messages.success(
                request,
                f"Scheduled a deployment of {environment.name} for "
                f"{when:%Y-%m-%d %H:%M} ({schedule.timezone}).",
            )
            return redirect(detail_url(environment))
    return render(
        request,
        "deployments/schedule_form.html",
        {"form": form, "environment": environment, "project": environment.project},
    )


def _schedule(request: HttpRequest, schedule_id: int) -> ScheduledDeployment:
    return fetch(
        request,
        ScheduledDeployment.objects.select_related("environment__project"),
        Action.DEPLOY,
        pk=schedule_id,
    )


@login_required
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _schedule(request, schedule_id)
    environment = schedule.environment
    initial = {
        "run_at": scheduling.local_run_at(schedule).strftime(LOCAL_TIME_FORMAT),
        "timezone": schedule.timezone,
        "remind_minutes_before": schedule.remind_minutes_before,
        "note": schedule.note,
    }
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            scheduling.update_schedule(
                me(request),
                schedule,
                data["run_at"],
                data["timezone"],
                remind_minutes_before=data["remind_minutes_before"],
                note=data["note"],
                request=request,
            )
        except ProjectError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Saved the scheduled deployment.")
            return redirect(detail_url(environment))
    return render(
        request,
        "deployments/schedule_form.html",
        {
            "form": form,
            "environment": environment,
            "project": environment.project,
            "schedule": schedule,
        },
    )


@login_required
@require_POST
def schedule_cancel(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _schedule(request, schedule_id)
    try:
        scheduling.cancel_schedule(me(request), schedule, request=request)
    except ProjectError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Cancelled the scheduled deployment.")
    return redirect(detail_url(schedule.environment))
