"""Write activity rows. Every state-changing action calls `record`."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from devflow.core.models import ActivityLog, ActivityResult, ActivitySource, JobTrigger


def client_ip(request: HttpRequest | None) -> str | None:
    """Return the client's address (REMOTE_ADDR; put a proxy's header handling in the proxy)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


# The `devflow` command line sends it (devflow.client.http).
CLI_USER_AGENT = "devflow-cli"


def origin(request: HttpRequest | None, default: str = ActivitySource.WEB) -> str:
    """Where a request came from: the API, the `devflow` command line (which calls the API
    with its own User-Agent), or else `default` (the pages)."""
    if request is None or not request.path.startswith("/api/"):
        return default
    agent = request.headers.get("User-Agent", "")
    return ActivitySource.CLI if agent.startswith(CLI_USER_AGENT) else ActivitySource.API


def job_trigger(source: str, request: HttpRequest | None = None) -> str:
    """The job trigger for an action from `source` (the page's default: from the request)."""
    if source == ActivitySource.WEB:
        source = origin(request)
    return JobTrigger(source).value


def record(
    action: str,
    *,
    actor: Any = None,
    team: Any = None,
    target: models.Model | None = None,
    source: str = ActivitySource.WEB,
    request: HttpRequest | None = None,
    result: str = ActivityResult.SUCCESS,
    details: dict[str, Any] | None = None,
    target_label: str = "",
    ip_address: str | None = None,
) -> ActivityLog:
    """Append one activity row. `details` must never hold secret values.

    The address comes from `request`, or from `ip_address` where there is no HTTP request
    (a WebSocket consumer).
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if source == ActivitySource.WEB:
        # Services shared by the page and the API need not be told which one called them.
        source = origin(request)
    return ActivityLog.objects.create(
        team=team,
        team_name=str(team) if team is not None else "",
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "",
        action=action,
        target_type=target._meta.model_name or "" if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or str(target))[:200] if target is not None else target_label,
        source=source,
        ip_address=client_ip(request) or ip_address,
        result=result,
        details=details or {},
    )
