"""Release bookkeeping in the database: which one is live, which are kept, which are gone."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from devflow.core.models import JobStatus
from devflow.deployments import remote
from devflow.deployments.models import Deployment, Release, ReleaseStatus
from devflow.projects.models import Environment


def new_release_name(deployment: Deployment) -> str:
    """Sortable and unique: UTC time of the deploy and its number."""
    return f"{timezone.now():%Y%m%d%H%M%S}-{deployment.pk}"


def mark_abandoned(environment: Environment) -> int:
    """Releases still "building" whose deployment has ended (a killed worker) are failed."""
    return (
        Release.objects.filter(environment=environment, status=ReleaseStatus.BUILDING)
        .filter(deployment__job__status__in=JobStatus.finished())
        .update(status=ReleaseStatus.FAILED)
    )


@transaction.atomic
def activate(release: Release) -> Release | None:
    """Make `release` the live one; return the release it replaced (now kept)."""
    previous = (
        Release.objects.select_for_update()
        .filter(environment=release.environment, status=ReleaseStatus.ACTIVE)
        .exclude(pk=release.pk)
        .first()
    )
    if previous is not None:
        previous.status = ReleaseStatus.KEPT
        previous.save(update_fields=["status"])
    release.status = ReleaseStatus.ACTIVE
    release.activated_at = timezone.now()
    release.save(update_fields=["status", "activated_at"])
    return previous


@transaction.atomic
def restore(environment: Environment, name: str, failed: Release | None) -> None:
    """After a re-point: `name` is live again, `failed` (if any) failed."""
    if failed is not None:
        failed.status = ReleaseStatus.FAILED
        failed.save(update_fields=["status"])
    Release.objects.filter(environment=environment, status=ReleaseStatus.ACTIVE).exclude(
        name=name
    ).update(status=ReleaseStatus.KEPT)
    Release.objects.filter(environment=environment, name=name).update(status=ReleaseStatus.ACTIVE)


def names_to_keep(environment: Environment, keep: int) -> list[str]:
    """The live release and the newest kept ones, `keep` in all."""
    live = list(
        Release.objects.filter(environment=environment, status=ReleaseStatus.ACTIVE).values_list(
            "name", flat=True
        )
    )
    kept = list(
        Release.objects.filter(environment=environment, status=ReleaseStatus.KEPT)
        .order_by("-created_at", "-id")
        .values_list("name", flat=True)[: max(keep - len(live), 0)]
    )
    return live + kept


def mark_purged(environment: Environment, kept: list[str]) -> int:
    return (
        Release.objects.filter(environment=environment, status=ReleaseStatus.KEPT)
        .exclude(name__in=kept)
        .update(status=ReleaseStatus.PURGED, purged_at=timezone.now())
    )


def record_commits(environment: Environment, output: str) -> None:
    """Store the branch's latest commits and how far the live release is behind."""
    commits = []
    behind: int | None = None
    for line in output.splitlines():
        if line.startswith(f"{remote.MARK}log:"):
            sha, author, at, subject = (line[len(remote.MARK) + 4 :] + "\x1f" * 3).split("\x1f")[:4]
            when = datetime.fromtimestamp(int(at), tz=UTC).isoformat() if at.isdigit() else ""
            commits.append({"sha": sha, "author": author, "at": when, "message": subject})
        elif line.startswith(f"{remote.MARK}behind:"):
            value = line.rsplit(":", 1)[1]
            behind = int(value) if value.isdigit() else None
    if not commits:
        return
    Environment.objects.filter(pk=environment.pk).update(
        commits=commits,
        head_sha=commits[0]["sha"],
        behind_count=behind,
        commits_refreshed_at=timezone.now(),
        commits_error="",
    )
