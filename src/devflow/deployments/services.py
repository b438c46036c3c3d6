"""Rules for starting, rolling back and cancelling deployments."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from devflow.core import audit
from devflow.core.jobs import enqueue, request_cancel
from devflow.core.models import ActivitySource, JobTrigger
from devflow.deployments.models import Deployment, DeployTrigger, Release, ReleaseStatus
from devflow.projects import services as project_services
from devflow.projects import validation
from devflow.projects.models import Environment, Project
from devflow.projects.services import ProjectError

IF_BUSY = ("wait", "fail")

# Where a deployment came from, when its trigger says it; manual runs and rollbacks come from
# the page, the API or the command line, as the request shows (audit.origin).
_ORIGINS = {
    DeployTrigger.WEBHOOK: ActivitySource.WEBHOOK,
    DeployTrigger.SCHEDULE: ActivitySource.SCHEDULE,
    DeployTrigger.API: ActivitySource.API,
    DeployTrigger.CLI: ActivitySource.CLI,
}


def _origin(deployment: Deployment, request: HttpRequest | None) -> str:
    return _ORIGINS.get(DeployTrigger(deployment.trigger)) or audit.origin(request)


def _where(environment: Environment) -> dict[str, Any]:
    """Where a deployment acts: always today's environment, even when rebuilding the past."""
    return {
        "deploy_path": environment.deploy_path,
        "health_check_url": environment.health_check_url,
        "server_ids": list(environment.servers.order_by("name", "id").values_list("pk", flat=True)),
    }


def pipeline_snapshot(project: Project, environment: Environment) -> dict[str, Any]:
    """Everything the pipeline needs, frozen at request time (except the encrypted env)."""
    return {
        **project.pipeline(),
        **_where(environment),
        "repository_url": project.repository_url,
        "deploy_key_id": project.deploy_key_id,
        "branch": environment.branch,
        "keep_releases": project.keep_releases,
        "command_timeout_seconds": project.command_timeout_seconds,
        "health_check_retries": project.health_check_retries,
        "deploy_timeout_seconds": project.deploy_timeout_seconds,
    }


def active_deployment(project: Project) -> Deployment | None:
    return Deployment.objects.filter(project=project).active().order_by("created_at").first()


def _start(
    actor: Any,
    environment: Environment,
    deployment: Deployment,
    *,
    if_busy: str,
    request: HttpRequest | None,
    action: str,
) -> Deployment:
    project = environment.project
    if if_busy not in IF_BUSY:
        raise ProjectError("When a deployment is already running, choose 'wait' or 'fail'.")
    if not deployment.pipeline_snapshot.get("server_ids"):
        raise ProjectError(f"The {environment.name} environment has no servers.")
    running = active_deployment(project)
    if running is not None and if_busy == "fail":
        raise ProjectError(
            f"Deployment #{running.pk} of {project.name} is {running.status_label.lower()}; "
            "try again when it has finished, or ask to wait for it."
        )
    deployment.team = project.team
    deployment.project = project
    deployment.environment = environment
    deployment.actor = actor if getattr(actor, "is_authenticated", False) else None
    deployment.server_names = list(
        environment.servers.order_by("name", "id").values_list("name", flat=True)
    )
    deployment.save()
    deployment.job = enqueue(
        "deployments.deploy",
        team=project.team,
        actor=deployment.actor,
        trigger=JobTrigger(_origin(deployment, request)),
        target=project,
        params={"deployment_id": deployment.pk, "project_id": project.pk, "if_busy": if_busy},
        timeout_seconds=int(deployment.pipeline_snapshot.get("deploy_timeout_seconds", 900)),
    )
    deployment.save(update_fields=["job"])
    audit.record(
        action,
        actor=actor,
        team=project.team,
        target=deployment,
        request=request,
        source=_origin(deployment, request),
        details={
            "environment": environment.name,
            "branch": deployment.branch,
            "commit": deployment.requested_sha,
            "trigger": deployment.trigger,
            "job": deployment.job.pk,
        },
    )
    return deployment


@transaction.atomic
def request_deployment(
    actor: Any,
    environment: Environment,
    *,
    trigger: str = DeployTrigger.MANUAL,
    if_busy: str = "wait",
    commit_sha: str = "",
    request: HttpRequest | None = None,
) -> Deployment:
    """Queue a deployment of the environment's branch (or of one pinned commit)."""
    environment.refresh_from_db()  # the snapshot must hold what is saved now
    environment.project.refresh_from_db()
    project = environment.project
    sha = project_services.checked(validation.validate_commit_sha, commit_sha) if commit_sha else ""
    snapshot = pipeline_snapshot(project, environment)
    snapshot["requested_sha"] = sha
    deployment = Deployment(
        trigger=trigger, branch=environment.branch, requested_sha=sha, pipeline_snapshot=snapshot
    )
    deployment.set_environment_variables(project_services.variables_of(environment))
    return _start(
        actor, environment, deployment, if_busy=if_busy, request=request,
        action="deployment.requested",
    )  # fmt: skip


@transaction.atomic
def request_rollback(
    actor: Any,
    release: Release,
    *,
    if_busy: str = "fail",
    request: HttpRequest | None = None,
) -> Deployment:
    """Point `current` back to a kept release, with the environment it was deployed with."""
    if release.status == ReleaseStatus.ACTIVE:
        raise ProjectError(f"Release {release.name} is already live.")
    if release.status == ReleaseStatus.PURGED:
        raise ProjectError(
            f"Release {release.name} was purged from the servers; redeploy its commit instead."
        )
    if release.status != ReleaseStatus.KEPT:
        raise ProjectError(f"Release {release.name} never went live; it cannot be rolled back to.")
    source = release.deployment
    environment = release.environment
    snapshot = {**source.pipeline_snapshot, **_where(environment)}
    deployment = Deployment(
        trigger=DeployTrigger.ROLLBACK,
        branch=source.branch,
        commit_sha=release.commit_sha,
        commit_message=source.commit_message,
        commit_author=source.commit_author,
        release_name=release.name,
        rollback_of=release,
        pipeline_snapshot=snapshot,
        env_snapshot=source.env_snapshot,
    )
    return _start(
        actor, environment, deployment, if_busy=if_busy, request=request,
        action="deployment.rollback_requested",
    )  # fmt: skip


@transaction.atomic
def request_redeploy(
    actor: Any,
    previous: Deployment,
    *,
    trigger: str = DeployTrigger.MANUAL,
    if_busy: str = "wait",
    request: HttpRequest | None = None,
) -> Deployment:
    """Build that exact commit again from that deployment's snapshot (its release is gone)."""
    if not previous.commit_sha:
        raise ProjectError("That deployment never resolved a commit; deploy the branch instead.")
    environment = previous.environment
    snapshot = {
        **previous.pipeline_snapshot,
        **_where(environment),
        "requested_sha": previous.commit_sha,
    }
    deployment = Deployment(
        trigger=trigger,
        branch=previous.branch,
        requested_sha=previous.commit_sha,
        redeploy_of=previous,
        pipeline_snapshot=snapshot,
        env_snapshot=previous.env_snapshot,
    )
    return _start(
        actor, environment, deployment, if_busy=if_busy, request=request,
        action="deployment.redeploy_requested",
    )  # fmt: skip


def cancel_deployment(
    actor: Any, deployment: Deployment, *, request: HttpRequest | None = None
) -> str:
    if deployment.job is None or deployment.is_finished:
        raise ProjectError("This deployment has already finished.")
    status = request_cancel(deployment.job)
    audit.record(
        "deployment.cancel_requested",
        actor=actor,
        team=deployment.team,
        target=deployment,
        request=request,
        details={"job": deployment.job.pk},
    )
    return status
