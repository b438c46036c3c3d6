"""Rules for projects, environments, variables and templates; views, API and jobs call these."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from dotenv.parser import parse_stream

from devflow.core import audit
from devflow.core.jobs import enqueue
from devflow.core.models import ActivitySource, Job, JobStatus
from devflow.projects import validation
from devflow.projects.frameworks import FRAMEWORKS
from devflow.projects.models import Environment, Project, ProjectTemplate, Variable
from devflow.servers.models import Server, SshKey


class ProjectError(ValueError):
    """A request about a project that cannot be done; the message is for the user."""


def checked(validator: Any, value: Any) -> Any:
    try:
        return validator(value)
    except ValidationError as error:
        raise ProjectError(" ".join(error.messages)) from None


# Templates -------------------------------------------------------------------


def template_choices(team: Any) -> list[tuple[str, str, str]]:
    """(key, name, description) for every built-in and saved template of `team`."""
    choices = [(f.slug, f.name, f.description) for f in FRAMEWORKS.values()]
    for saved in ProjectTemplate.objects.filter(team=team):
        choices.append((f"saved:{saved.pk}", saved.name, saved.description or "Saved template"))
    return choices


def pipeline_of_template(team: Any, key: str) -> dict[str, Any]:
    if key.startswith("saved:"):
        saved = ProjectTemplate.objects.filter(team=team, pk=key[6:] or 0).first()
        if saved is None:
            raise ProjectError("That template no longer exists.")
        return saved.pipeline()
    framework = FRAMEWORKS.get(key)
    if framework is None:
        raise ProjectError(f"Unknown template {key!r}.")
    return framework.pipeline()


@transaction.atomic
def save_as_template(
    actor: Any, project: Project, name: str, description: str = "", *, request: Any = None
) -> ProjectTemplate:
    name = name.strip()
    if not name:
        raise ProjectError("Give the template a name.")
    if ProjectTemplate.objects.filter(team=project.team, name__iexact=name).exists():
        raise ProjectError(f"There is already a template named {name!r}.")
    template = ProjectTemplate(team=project.team, name=name, description=description.strip())
    for key, value in project.pipeline().items():
        setattr(template, key, value)
    template.created_by = actor if getattr(actor, "is_authenticated", False) else None
    template.save()
    audit.record(
        "template.created", actor=actor, team=project.team, target=template, request=request
    )
    return template


# Projects ----------------------------------------------------------------------


@dataclass
class ProjectData:
    name: str
    repository_url: str
    deploy_key: SshKey | None = None
    template: str = "custom"


@dataclass
class EnvironmentData:
    name: str = "production"
    branch: str = "main"
    servers: list[Server] = field(default_factory=list)
    deploy_path: str = ""
    health_check_url: str = ""


@dataclass
class PipelineData:
    build_commands: str = ""
    deploy_commands: str = ""
    post_deploy_commands: str = ""
    smoke_command: str = ""
    shared_paths: str = ""
    health_check_path: str = ""
    keep_releases: int = 5
    deploy_timeout_seconds: int = 900
    command_timeout_seconds: int = 600
    health_check_retries: int = 5


def _apply_project(project: Project, data: ProjectData) -> None:
    name = data.name.strip()
    if not name:
        raise ProjectError("A project needs a name.")
    if Project.objects.filter(team=project.team, name__iexact=name).exclude(pk=project.pk).exists():
        raise ProjectError(f"There is already a project named {name!r} in this team.")
    project.name = name
    project.repository_url = checked(validation.validate_repository_url, data.repository_url)
    if data.deploy_key is not None and data.deploy_key.team_id != project.team_id:
        raise ProjectError("That deploy key belongs to another team.")
    project.deploy_key = data.deploy_key


def _apply_environment(environment: Environment, data: EnvironmentData) -> None:
    name = data.name.strip().lower()
    if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 40:
        raise ProjectError("An environment name uses letters, digits, - and _ (e.g. staging).")
    clash = Environment.objects.filter(project=environment.project, name__iexact=name)
    if clash.exclude(pk=environment.pk).exists():
        raise ProjectError(f"The project already has an environment named {name!r}.")
    environment.name = name
    environment.branch = checked(validation.validate_branch, data.branch)
    environment.deploy_path = checked(validation.validate_deploy_path, data.deploy_path)
    environment.health_check_url = checked(validation.validate_health_url, data.health_check_url)
    if not data.servers:
        raise ProjectError("Pick at least one server to deploy to.")
    if any(server.team_id != environment.project.team_id for server in data.servers):
        raise ProjectError("A server belongs to another team.")


@transaction.atomic
def create_project(
    actor: Any,
    team: Any,
    data: ProjectData,
    environment: EnvironmentData,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> Project:
    """Create a project from a template with its first environment."""
    project = Project(team=team, created_by=actor if actor and actor.is_authenticated else None)
    _apply_project(project, data)
    pipeline = pipeline_of_template(team, data.template or "custom")
    for key, value in pipeline.items():
        setattr(project, key, value)
    project.template = data.template or "custom"
    project.save()
    env = Environment(project=project)
    _apply_environment(env, environment)
    env.save()
    env.servers.set(environment.servers)
    audit.record(
        "project.created",
        actor=actor,
        team=team,
        target=project,
        request=request,
        source=source,
        details={"template": project.template, "environment": env.name},
    )
    return project


@transaction.atomic
def update_project(
    actor: Any,
    project: Project,
    data: ProjectData,
    pipeline: PipelineData | None = None,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> Project:
    _apply_project(project, data)
    if pipeline is not None:
        _apply_pipeline(project, pipeline)
    project.save()
    audit.record(
        "project.updated", actor=actor, team=project.team, target=project, request=request,
        source=source,
    )  # fmt: skip
    return project


def _bounded(value: int, low: int, high: int, what: str) -> int:
    if not low <= int(value) <= high:
        raise ProjectError(f"{what} must be between {low} and {high}.")
    return int(value)


def _apply_pipeline(project: Project, data: PipelineData) -> None:
    project.build_commands = checked(validation.parse_commands, data.build_commands)
    project.deploy_commands = checked(validation.parse_commands, data.deploy_commands)
    project.post_deploy_commands = checked(validation.parse_commands, data.post_deploy_commands)
    project.smoke_command = data.smoke_command.strip()
    paths = [p for p in data.shared_paths.replace(",", "\n").splitlines() if p.strip()]
    project.shared_paths = [checked(validation.validate_shared_path, p) for p in paths]
    project.health_check_path = data.health_check_path.strip()
    project.keep_releases = _bounded(data.keep_releases, 1, 50, "Releases to keep")
    project.deploy_timeout_seconds = _bounded(
        data.deploy_timeout_seconds, 30, 6 * 3600, "The deployment time limit (seconds)"
    )
    project.command_timeout_seconds = _bounded(
        data.command_timeout_seconds, 5, 6 * 3600, "The command time limit (seconds)"
    )
    project.health_check_retries = _bounded(data.health_check_retries, 1, 60, "Health retries")


@transaction.atomic
def delete_project(actor: Any, project: Project, *, request: HttpRequest | None = None) -> None:
    from devflow.deployments.models import Deployment

    if Deployment.objects.filter(project=project).active().exists():
        raise ProjectError("A deployment of this project is queued or running; cancel it first.")
    audit.record("project.deleted", actor=actor, team=project.team, target=project, request=request)
    project.delete()


@transaction.atomic
def save_environment(
    actor: Any,
    project: Project,
    data: EnvironmentData,
    environment: Environment | None = None,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> Environment:
    """Add an environment to `project`, or change `environment`."""
    created = environment is None
    env = environment or Environment(project=project)
    _apply_environment(env, data)
    env.save()
    env.servers.set(data.servers)
    audit.record(
        "environment.created" if created else "environment.updated",
        actor=actor,
        team=project.team,
        target=env,
        request=request,
        source=source,
        details={"branch": env.branch, "servers": [s.name for s in data.servers]},
    )
    return env


@transaction.atomic
def delete_environment(
    actor: Any, environment: Environment, *, request: HttpRequest | None = None
) -> None:
    project = environment.project
    if project.environments.count() <= 1:
        raise ProjectError("A project keeps at least one environment.")
    if environment.deployments.active().exists():
        raise ProjectError("A deployment of this environment is queued or running.")
    audit.record(
        "environment.deleted", actor=actor, team=project.team, target=environment, request=request
    )
    environment.delete()


# Variables ----------------------------------------------------------------------


def variables_of(environment: Environment) -> dict[str, str]:
    return {v.key: v.value or "" for v in environment.variables.all()}


@transaction.atomic
def set_variable(
    actor: Any,
    environment: Environment,
    key: str,
    value: str,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> Variable:
    key = checked(validation.validate_env_key, key)
    if "\x00" in value:
        raise ProjectError("A value cannot contain a NUL byte.")
    variable, created = Variable.objects.get_or_create(environment=environment, key=key)
    variable.value = value
    variable.save()
    audit.record(
        "variable.created" if created else "variable.updated",
        actor=actor,
        team=environment.project.team,
        target=environment,
        request=request,
        source=source,
        details={"key": key},  # never the value
    )
    return variable


@transaction.atomic
def delete_variable(
    actor: Any, environment: Environment, key: str, *, request: HttpRequest | None = None
) -> None:
    deleted, _ = Variable.objects.filter(environment=environment, key=key).delete()
    if not deleted:
        raise ProjectError(f"There is no variable {key!r}.")
    audit.record(
        "variable.deleted",
        actor=actor,
        team=environment.project.team,
        target=environment,
        request=request,
        details={"key": key},
    )


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse a pasted `.env`; every malformed line is reported with its number."""
    values: dict[str, str] = {}
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            first = binding.original.string.strip().splitlines()[0][:40]
            problems.append(f"line {line} ({first!r}) is not KEY=value")
            continue
        if binding.key is None:
            continue  # blank line or comment
        try:
            key = validation.validate_env_key(binding.key)
        except ValidationError:
            problems.append(f"line {line}: {binding.key!r} is not a valid variable name")
            continue
        values[key] = binding.value or ""
    if problems:
        raise ProjectError("Nothing was saved: " + "; ".join(problems) + ".")
    return values


@transaction.atomic
def import_dotenv(
    actor: Any,
    environment: Environment,
    text: str,
    *,
    replace: bool = False,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> dict[str, str]:
    """Set every variable of a pasted `.env` (all or nothing); `replace` drops the others."""
    values = parse_dotenv(text)
    if not values:
        raise ProjectError("The pasted text holds no KEY=value lines.")
    existing = {v.key: v for v in environment.variables.all()}
    for key, value in values.items():
        variable = existing.get(key) or Variable(environment=environment, key=key)
        variable.value = value
        variable.save()
    removed = []
    if replace:
        removed = sorted(set(existing) - set(values))
        Variable.objects.filter(environment=environment, key__in=removed).delete()
    audit.record(
        "variable.imported",
        actor=actor,
        team=environment.project.team,
        target=environment,
        request=request,
        source=source,
        details={"keys": sorted(values), "removed": removed},
    )
    return values


def render_dotenv(values: dict[str, str]) -> str:
    """Write variables as a `.env` file that dotenv readers (Laravel, Node, Python) agree on.

    Single quotes keep `$` and `\\` literal; a value holding a quote or a newline is
    double-quoted with \\, " and newlines escaped.
    """
    lines = []
    for key in sorted(values):
        value = values[key]
        if "'" not in value and "\n" not in value:
            lines.append(f"{key}='{value}'")
            continue
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + ("\n" if lines else "")


# Commits ---------------------------------------------------------------------------


def refresh_commits(
    actor: Any,
    environment: Environment,
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
) -> Job:
    """Queue a fetch of the branch's latest commits on the environment's first server."""
    return enqueue(
        "projects.refresh_commits",
        team=environment.project.team,
        actor=actor,
        target=environment.project,
        trigger=audit.job_trigger(source, request),
        params={"environment_id": environment.pk},
    )


COMMITS_STALE_AFTER = timedelta(minutes=5)


def refresh_commits_if_stale(actor: Any, environment: Environment) -> Job | None:
    """Queue a refresh when the cached commits are older than a few minutes (page views)."""
    fresh_since = timezone.now() - COMMITS_STALE_AFTER
    if environment.commits_refreshed_at and environment.commits_refreshed_at > fresh_since:
        return None
    in_flight = Job.objects.filter(
        team=environment.project.team,
        kind="projects.refresh_commits",
        params__environment_id=environment.pk,
    ).filter(Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) | Q(created_at__gt=fresh_since))
    if in_flight.exists() or not environment.servers.exists():
        return None  # one is running, or one ran lately (and failed: its error is shown)
    return refresh_commits(actor, environment)
