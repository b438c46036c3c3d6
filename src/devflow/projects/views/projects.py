"""Project pages: list, new from a template, detail per environment, settings, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import current_team, fetch, me
from devflow.core.models import Job, JobStatus
from devflow.core.tenancy import can
from devflow.deployments.forms import DeployForm, ScheduleForm
from devflow.deployments.models import (
    Deployment,
    Release,
    ReleaseStatus,
    ScheduledDeployment,
    ScheduleStatus,
)
from devflow.deployments.scheduling import local_run_at
from devflow.projects import services
from devflow.projects.forms import NewProjectForm, ProjectSettingsForm, TemplateForm
from devflow.projects.frameworks import FRAMEWORKS
from devflow.projects.models import Environment, Project
from devflow.projects.validation import format_commands
from devflow.projects.views.common import duration_label
from devflow.servers.models import Server
from devflow.webhooks.views import settings_panel as webhook_settings_panel

HISTORY_PAGE_SIZE = 15
RELEASES_SHOWN = 15


def framework_name(slug: str) -> str:
    framework = FRAMEWORKS.get(slug)
    return framework.name if framework else slug.title()


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    latest = Deployment.objects.filter(project=OuterRef("pk")).order_by("-created_at", "-id")
    projects = list(
        Project.objects.for_user(me(request))
        .filter(team=team)
        .prefetch_related("environments")
        .annotate(last_deployment_id=Subquery(latest.values("id")[:1]))
    )
    last = Deployment.objects.filter(
        pk__in=[p.last_deployment_id for p in projects if p.last_deployment_id]
    ).select_related("job", "environment")
    by_id = {d.pk: d for d in last}
    for project in projects:
        project.last_deployment = by_id.get(project.last_deployment_id)  # type: ignore[attr-defined]
        project.framework_name = framework_name(project.framework)  # type: ignore[attr-defined]
    return render(
        request,
        "projects/project_list.html",
        {"projects": projects, "can_edit": can(request.user, Action.EDIT, team)},
    )


def _template_tiles(team: Any) -> list[dict[str, Any]]:
    """A tile per template, with what it runs and its health check path."""
    tiles = []
    for key, name, description in services.template_choices(team):
        pipeline = services.pipeline_of_template(team, key)
        tiles.append(
            {
                "key": key,
                "name": name,
                "description": description,
                "health_check_path": pipeline["health_check_path"],
                "preview": {
                    "build": format_commands(pipeline["build_commands"]),
                    "deploy": format_commands(pipeline["deploy_commands"]),
                    "post_deploy": format_commands(pipeline["post_deploy_commands"]),
                    "smoke": pipeline["smoke_command"],
                    "shared": ", ".join(pipeline["shared_paths"]),
                },
            }
        )
    return tiles


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    team = current_team(request, Action.EDIT)
    choices = services.template_choices(team)
    tiles = _template_tiles(team)
    health_paths = {tile["key"]: tile["health_check_path"] for tile in tiles}
    picked = request.GET.get("template", "")
    form = NewProjectForm(
        request.POST or None,
        team=team,
        templates=choices,
        initial={"template": picked if picked in health_paths else "custom"},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = services.create_project(
                me(request),
                team,
                services.ProjectData(
                    name=data["name"],
                    repository_url=data["repository_url"],
                    deploy_key=data["deploy_key"],
                    template=data["template"],
                ),
                services.EnvironmentData(
                    name=data["environment"],
                    branch=data["branch"],
                    servers=list(data["servers"]),
                    deploy_path=data["deploy_path"],
                    health_check_url=data["health_check_url"],
                ),
                request=request,
            )
        except services.ProjectError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Created {project}. Deploy it when you are ready.")
            return redirect("projects:detail", project_id=project.pk)
    selected = form["template"].value() or "custom"
    return render(
        request,
        "projects/project_new.html",
        {
            "form": form,
            "tiles": tiles,
            "health_paths": health_paths,
            "selected": selected,
            "health_path": health_paths.get(selected) or "/",
            "has_servers": Server.objects.filter(team=team).exists(),
        },
    )


def _commits(environment: Environment, live_sha: str) -> list[dict[str, Any]]:
    rows = []
    for commit in environment.commits or []:
        try:
            at: datetime | None = datetime.fromisoformat(commit.get("at") or "")
        except ValueError:
            at = None
        sha = commit.get("sha", "")
        rows.append({**commit, "short": sha[:8], "at": at, "live": bool(sha) and sha == live_sha})
    return rows


def _pick_environment(environments: list[Environment], wanted: str) -> Environment | None:
    for environment in environments:
        if wanted in (environment.name, str(environment.pk)):
            return environment
    return environments[0] if environments else None


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.select_related("deploy_key"), pk=project_id)
    environments = list(project.environments.prefetch_related("servers"))
    environment = _pick_environment(environments, request.GET.get("env", ""))
    queue = list(
        Deployment.objects.filter(project=project)
        .active()
        .select_related("environment", "job", "actor")
        .order_by("created_at", "id")
    )
    context: dict[str, Any] = {
        "project": project,
        "framework_name": framework_name(project.framework),
        "environments": environments,
        "environment": environment,
        "queue": queue,
        "can_deploy": can(request.user, Action.DEPLOY, project),
        "can_edit": can(request.user, Action.EDIT, project),
    }
    if environment is not None:
        context.update(_environment_context(request, environment))
    return render(request, "projects/project_detail.html", context)


def _environment_context(request: HttpRequest, environment: Environment) -> dict[str, Any]:
    live = (
        Release.objects.filter(environment=environment, status=ReleaseStatus.ACTIVE)
        .select_related("deployment")
        .first()
    )
    releases = Release.objects.filter(environment=environment).select_related("deployment")[
        :RELEASES_SHOWN
    ]
    history = Paginator(
        Deployment.objects.filter(environment=environment).select_related("job", "actor"),
        HISTORY_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    for deployment in history:
        seconds = deployment.job.duration_seconds if deployment.job else None
        deployment.duration = duration_label(seconds)  # type: ignore[attr-defined]
    schedules = list(
        ScheduledDeployment.objects.filter(environment=environment, status=ScheduleStatus.PENDING)
    )
    past_schedules = list(
        ScheduledDeployment.objects.filter(environment=environment)
        .exclude(status=ScheduleStatus.PENDING)
        .select_related("deployment")
        .order_by("-run_at")[:5]
    )
    for schedule in schedules + past_schedules:
        # Naive on purpose: templates show aware times in UTC, this is wall-clock time in its zone.
        schedule.local = local_run_at(schedule).replace(tzinfo=None)  # type: ignore[attr-defined]
    services.refresh_commits_if_stale(request.user, environment)
    refreshing = Job.objects.filter(
        team=environment.project.team,
        kind="projects.refresh_commits",
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        params__environment_id=environment.pk,
    ).first()
    return {
        "live": live,
        "releases": releases,
        "history": history,
        "page": history,
        "commits": _commits(environment, live.commit_sha if live else ""),
        "refreshing": refreshing,
        "schedules": schedules,
        "past_schedules": past_schedules,
        "deploy_form": DeployForm(),
        "schedule_form": ScheduleForm(),
        "servers": list(environment.servers.all()),
    }


def _settings_initial(project: Project) -> dict[str, Any]:
    return {
        "name": project.name,
        "repository_url": project.repository_url,
        "deploy_key": project.deploy_key,
        "build_commands": format_commands(project.build_commands),
        "deploy_commands": format_commands(project.deploy_commands),
        "post_deploy_commands": format_commands(project.post_deploy_commands),
        "smoke_command": project.smoke_command,
        "shared_paths": "\n".join(project.shared_paths),
        "health_check_path": project.health_check_path,
        "keep_releases": project.keep_releases,
        "deploy_timeout_seconds": project.deploy_timeout_seconds,
        "command_timeout_seconds": project.command_timeout_seconds,
        "health_check_retries": project.health_check_retries,
    }


@login_required
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(
        request, Project.objects.select_related("deploy_key"), Action.EDIT, pk=project_id
    )
    form = ProjectSettingsForm(
        request.POST or None, team=project.team, initial=_settings_initial(project)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_project(
                me(request),
                project,
                services.ProjectData(
                    name=data["name"],
                    repository_url=data["repository_url"],
                    deploy_key=data["deploy_key"],
                    template=project.template,
                ),
                services.PipelineData(
                    build_commands=data["build_commands"],
                    deploy_commands=data["deploy_commands"],
                    post_deploy_commands=data["post_deploy_commands"],
                    smoke_command=data["smoke_command"],
                    shared_paths=data["shared_paths"],
                    health_check_path=data["health_check_path"],
                    keep_releases=data["keep_releases"],
                    deploy_timeout_seconds=data["deploy_timeout_seconds"],
                    command_timeout_seconds=data["command_timeout_seconds"],
                    health_check_retries=data["health_check_retries"],
                ),
                request=request,
            )
        except services.ProjectError as error:
            project.refresh_from_db()  # the service changed it in memory before refusing
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved the settings of {project}.")
            return redirect("projects:settings", project_id=project.pk)
    return render(
        request,
        "projects/project_settings.html",
        {
            "project": project,
            "form": form,
            "environments": project.environments.prefetch_related("servers"),
            "template_form": TemplateForm(prefix="template"),
            "can_administer": can(request.user, Action.ADMINISTER, project),
            "busy": Deployment.objects.filter(project=project).active().exists(),
            **webhook_settings_panel(request, project),
        },
    )


@login_required
@require_POST
def project_save_template(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), Action.EDIT, pk=project_id)
    form = TemplateForm(request.POST, prefix="template")
    if not form.is_valid():
        messages.error(request, "Give the template a name (at most 100 characters).")
        return redirect("projects:settings", project_id=project.pk)
    try:
        template = services.save_as_template(
            me(request),
            project,
            form.cleaned_data["name"],
            form.cleaned_data["description"],
            request=request,
        )
    except services.ProjectError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"Saved the template {template}; pick it when you create a project."
        )
    return redirect("projects:settings", project_id=project.pk)


@login_required
@require_POST
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), Action.ADMINISTER, pk=project_id)
    name = project.name
    try:
        services.delete_project(me(request), project, request=request)
    except services.ProjectError as error:
        messages.error(request, str(error))
        return redirect("projects:settings", project_id=project.pk)
    messages.success(request, f"Deleted the project {name}. Nothing was removed from its servers.")
    return redirect("projects:list")
