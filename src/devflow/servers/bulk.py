"""Bulk actions: one action on many servers, in parallel, with a result per server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from devflow.accounts.choices import Action
from devflow.core import audit
from devflow.core.jobs import enqueue
from devflow.core.models import ActivitySource
from devflow.core.tenancy import can
from devflow.servers import actions, authorized_keys
from devflow.servers.models import BulkResult, BulkRun, KeyInstallation, Server, SshKey
from devflow.servers.services import ServerError, validate_service_name
from devflow.transport.commands import Command

MAX_COMMAND_LENGTH = 4000


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    needs_role: str  # an Action: deploy, or edit for arbitrary commands
    steps: Callable[[str, dict[str, Any]], list[Command]]
    destructive: bool = False
    timeout_seconds: int = 120
    # Called for each server that succeeded, in the job (e.g. to record a key installation).
    after: Callable[[BulkRun, BulkResult], None] | None = None


def _run_command(family: str, params: dict[str, Any]) -> list[Command]:
    # The user's own shell command, run as one `sh -c` argument: it is meant to be a script.
    return [
        Command.of(
            "sh",
            "-c",
            params["command"],
            sudo=bool(params.get("sudo")),
            label=params["command"][:200],
        )
    ]


def _quick(name: str) -> Callable[[str, dict[str, Any]], list[Command]]:
    action = actions.QUICK_ACTIONS[name]
    return lambda family, params: action.steps(family, {k: str(v) for k, v in params.items()})


def _deploy_key(family: str, params: dict[str, Any]) -> list[Command]:
    return [authorized_keys.add_key(params["public_key"])]


def _remove_key(family: str, params: dict[str, Any]) -> list[Command]:
    return [authorized_keys.remove_key(params["public_key"])]


def _installed(run: BulkRun, result: BulkResult) -> None:
    if result.server_id is not None:
        KeyInstallation.objects.get_or_create(
            ssh_key_id=run.params["key_id"], server_id=result.server_id
        )


def _uninstalled(run: BulkRun, result: BulkResult) -> None:
    if result.server_id is None:
        return
    KeyInstallation.objects.filter(
        ssh_key_id=run.params["key_id"], server_id=result.server_id
    ).delete()


def _from_quick(name: str) -> BulkAction:
    """A quick action on many servers: the same commands, role, confirmation and time limit."""
    quick = actions.QUICK_ACTIONS[name]
    return BulkAction(
        name, quick.label, quick.needs_role, _quick(name),
        destructive=quick.destructive, timeout_seconds=quick.timeout_seconds,
    )  # fmt: skip


BULK_ACTIONS: dict[str, BulkAction] = {
    action.name: action
    for action in [
        BulkAction(
            "ping",
            "Ping",
            Action.VIEW,
            lambda family, params: [Command.of("true")],
            timeout_seconds=30,
        ),
        BulkAction("run_command", "Run a command", Action.EDIT, _run_command),
        _from_quick("restart_service"),
        _from_quick("reboot"),
        _from_quick("install_docker"),
        _from_quick("update_packages"),
        BulkAction("deploy_key", "Deploy an SSH key", Action.EDIT, _deploy_key, after=_installed),
        BulkAction(
            "remove_key",
            "Remove an SSH key",
            Action.EDIT,
            _remove_key,
            destructive=True,
            after=_uninstalled,
        ),
    ]
}


def clean_params(action: BulkAction, params: dict[str, Any], team: Any) -> dict[str, Any]:
    if action.name == "run_command":
        command = str(params.get("command", "")).strip()
        if not command:
            raise ServerError("Type the command to run.")
        if len(command) > MAX_COMMAND_LENGTH:
            raise ServerError(f"The command is longer than {MAX_COMMAND_LENGTH} characters.")
        return {"command": command, "sudo": bool(params.get("sudo"))}
    if action.name == "restart_service":
        return {"service": validate_service_name(str(params.get("service", "")).strip())}
    if action.name in ("deploy_key", "remove_key"):
        key = SshKey.objects.filter(pk=int(params.get("key_id") or 0), team=team).first()
        if key is None:
            raise ServerError("Pick one of the team's SSH keys.")
        return {"key_id": key.pk, "key_name": key.name, "public_key": key.public_key}
    return {}


@transaction.atomic
def start_bulk_run(
    actor: Any,
    team: Any,
    servers: list[Server],
    action_name: str,
    params: dict[str, Any],
    *,
    request: HttpRequest | None = None,
    source: str = ActivitySource.WEB,
    confirmed: bool = False,
) -> BulkRun:
    """Check permissions and input, write one pending result per server, queue the job."""
    action = BULK_ACTIONS.get(action_name)
    if action is None:
        raise ServerError(f"Unknown bulk action {action_name!r}.")
    if not servers:
        raise ServerError("Select at least one server.")
    if any(server.team_id != team.pk for server in servers):
        raise ServerError("A selected server belongs to another team.")
    # Every server is in `team` (checked above), so one check covers them all.
    if not can(actor, action.needs_role, team):
        raise ServerError(f"Your role may not {action.label.lower()} on these servers.")
    if action.destructive and not confirmed:
        raise ServerError(f"{action.label} needs confirmation.")
    params = clean_params(action, params, team)
    if action.name == "remove_key":
        in_use = [s.name for s in servers if s.ssh_key_id == params["key_id"]]
        if in_use:
            raise ServerError(
                f"DevFlow Pro logs in to {', '.join(in_use)} with {params['key_name']}: removing "
                "it would lock DevFlow Pro out. Rotate the key instead."
            )
    run = BulkRun.objects.create(team=team, action=action.name, params=params, created_by=actor)
    BulkResult.objects.bulk_create(
        BulkResult(run=run, server=server, server_name=server.name) for server in servers
    )
    job = enqueue(
        "servers.bulk",
        team=team,
        actor=actor,
        target=run,
        trigger=audit.job_trigger(source, request),
        params={"run_id": run.pk},
    )
    run.job = job
    run.save(update_fields=["job"])
    audit.record(
        f"bulk.{action.name}",
        actor=actor,
        team=team,
        target=run,
        request=request,
        source=source,
        details={**params, "servers": len(servers), "job": job.pk},
    )
    return run


def summary(run: BulkRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in run.results.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def mark(result_id: int, **fields: Any) -> None:
    BulkResult.objects.filter(pk=result_id).update(**fields)


def now() -> Any:
    return timezone.now()
