"""Environment pages: add, edit, delete, refresh commits, and the variables of each."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import fetch, me
from devflow.core.tenancy import can
from devflow.projects import services
from devflow.projects.forms import DotenvForm, EnvironmentForm, VariableForm
from devflow.projects.models import Environment, Project
from devflow.projects.views.common import detail_url


def _environment(
    request: HttpRequest, project_id: int, environment_id: int, action: str = Action.VIEW
) -> Environment:
    return fetch(
        request,
        Environment.objects.select_related("project__team"),
        action,
        pk=environment_id,
        project_id=project_id,
    )


@login_required
def environment_form(
    request: HttpRequest, project_id: int, environment_id: int | None = None
) -> HttpResponse:
    """Add an environment to a project, or change one (branch, servers, path, health URL)."""
    if environment_id is None:
        environment = None
        project = fetch(request, Project.objects.all(), Action.EDIT, pk=project_id)
        suggested = project.health_check_path or "/"
        initial: dict[str, Any] = {"environment": "staging", "branch": "main"}
    else:
        environment = _environment(request, project_id, environment_id, Action.EDIT)
        project = environment.project
        suggested = project.health_check_path or "/"
        initial = {
            "environment": environment.name,
            "branch": environment.branch,
            "servers": list(environment.servers.all()),
            "deploy_path": environment.deploy_path,
            "health_check_url": environment.health_check_url,
        }
    form = EnvironmentForm(request.POST or None, team=project.team, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.save_environment(
                me(request),
                project,
                services.EnvironmentData(
                    name=data["environment"],
                    branch=data["branch"],
                    servers=list(data["servers"]),
                    deploy_path=data["deploy_path"],
                    health_check_url=data["health_check_url"],
                ),
                environment,
                request=request,
            )
        except services.ProjectError as error:
            if environment is not None:
                environment.refresh_from_db()
            form.add_error(None, str(error))
        else:
            verb = "Added" if environment is None else "Saved"
            messages.success(request, f"{verb} the {saved.name} environment of {project}.")
            return redirect(detail_url(saved))
    return render(
        request,
        "projects/environment_form.html",
        {
            "project": project,
            "environment": environment,
            "form": form,
            "health_placeholder": f"http://127.0.0.1{suggested}",
        },
    )


@login_required
@require_POST
def environment_delete(request: HttpRequest, project_id: int, environment_id: int) -> HttpResponse:
    environment = _environment(request, project_id, environment_id, Action.EDIT)
    try:
        services.delete_environment(me(request), environment, request=request)
    except services.ProjectError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Deleted the {environment.name} environment. Nothing was removed from its servers.",
        )
    return redirect("projects:settings", project_id=project_id)


@login_required
@require_POST
def refresh_commits(request: HttpRequest, project_id: int, environment_id: int) -> HttpResponse:
    environment = _environment(request, project_id, environment_id, Action.DEPLOY)
    job = services.refresh_commits(me(request), environment, request=request)
    messages.success(
        request, f"Fetching the latest commits of {environment.branch} (job #{job.pk})."
    )
    return redirect(detail_url(environment))


@login_required
def variables(request: HttpRequest, project_id: int, environment_id: int) -> HttpResponse:
    """Keys with masked values; maintainers add, replace, delete and paste a .env."""
    environment = _environment(request, project_id, environment_id)
    can_edit = can(request.user, Action.EDIT, environment)
    posted = request.POST if request.method == "POST" else None
    one = VariableForm(posted if posted and "set" in posted else None, prefix="var")
    paste = DotenvForm(posted if posted and "import" in posted else None, prefix="env")
    if posted is not None:
        environment = _environment(request, project_id, environment_id, Action.EDIT)
        try:
            if "set" in posted and one.is_valid():
                key = one.cleaned_data["key"]
                services.set_variable(
                    me(request), environment, key, one.cleaned_data["value"], request=request
                )
                messages.success(request, f"Saved {key} for {environment.name}.")
                return redirect(request.path)
            if "import" in posted and paste.is_valid():
                values = services.import_dotenv(
                    me(request),
                    environment,
                    paste.cleaned_data["text"],
                    replace=paste.cleaned_data["replace"],
                    request=request,
                )
                messages.success(
                    request, f"Saved {len(values)} variable(s) for {environment.name}."
                )
                return redirect(request.path)
        except services.ProjectError as error:
            (one if "set" in posted else paste).add_error(None, str(error))
    return render(
        request,
        "projects/variables.html",
        {
            "project": environment.project,
            "environment": environment,
            "environments": environment.project.environments.all(),
            "variables": environment.variables.only("key", "updated_at", "environment_id"),
            "one": one,
            "paste": paste,
            "can_edit": can_edit,
        },
    )


@login_required
@require_POST
def variable_delete(request: HttpRequest, project_id: int, environment_id: int) -> HttpResponse:
    environment = _environment(request, project_id, environment_id, Action.EDIT)
    key = request.POST.get("key", "")
    try:
        services.delete_variable(me(request), environment, key, request=request)
    except services.ProjectError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Deleted {key} from {environment.name}.")
    return redirect("projects:variables", project_id=project_id, environment_id=environment.pk)
