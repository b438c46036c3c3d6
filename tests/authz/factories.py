"""One function per object kind: a minimal, realistic row (and what it hangs on) in a team.

The authorization matrix fills each route's URL kwargs from one of these. Every object is
made fresh for each case (each case is its own transaction), so a DELETE or a state change in
one case never affects the next. Rows are made through the services where a page or the API
would need what the service sets up (a project's first environment, an invitation's token),
and directly otherwise, as the other tests do.

Each object gets a distinctive name containing MARKER, so a list page can be searched for it:
a list shown to another team must never contain it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from devflow.accounts import api_tokens
from devflow.accounts import services as accounts
from devflow.accounts.choices import Role
from devflow.accounts.models import ApiToken, Invitation, Membership, Team, User, hash_token
from devflow.core.models import Job, JobStatus
from devflow.deployments import scheduling
from devflow.deployments import services as deployments
from devflow.deployments.models import Deployment, Release, ReleaseStatus, ScheduledDeployment
from devflow.monitoring import alerts, health, tokens
from devflow.monitoring.models import Alert, AlertRule, HealthCheck, MetricsToken
from devflow.notifications.models import Channel
from devflow.notifications.models import Delivery as NotificationDelivery
from devflow.projects import services as projects
from devflow.projects.models import Environment, Project, Variable
from devflow.servers import keys
from devflow.servers.models import BulkResult, BulkRun, Server, ServerGroup, SshKey, Tag
from devflow.webhooks import services as webhooks
from devflow.webhooks.models import Delivery as WebhookDelivery
from tests.conftest import PASSWORD

MARKER = "zq"  # in every name made here; nothing else on the pages contains "zqNN-"
SHA = "3f2c9ab8e1d4c5b6a7f8091a2b3c4d5e6f708192"
VARIABLE_KEY = "APP_SECRET"

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other row of the test has: "<prefix>-zq7-"."""
    return f"{prefix}-{MARKER}{next(_numbers)}-"


# Accounts ---------------------------------------------------------------------------------


def team(team: Team, actor: User) -> Team:
    """The team itself (for /teams/<id>/...)."""
    return team


def member(team: Team, actor: User, role: str = Role.DEPLOYER) -> Membership:
    """Another member of the team: what owners change the role of, or remove."""
    name = unique("member").strip("-").replace("-", "")
    user = accounts.create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
    return Membership.objects.create(user=user, team=team, role=role)


def invitation(team: Team, actor: User) -> Invitation:
    """A pending invitation; `raw_token` is the secret part of its link."""
    token = secrets.token_urlsafe(32)
    row = Invitation.objects.create(
        team=team,
        email=f"{unique('invitee').strip('-')}@example.com",
        role=Role.VIEWER,
        token_hash=hash_token(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=7),
    )
    row.raw_token = token  # type: ignore[attr-defined]
    return row


def api_token(team: Team, actor: User) -> ApiToken:
    """A personal API token of `actor` (tokens belong to a user, not to a team)."""
    return api_tokens.create(actor, unique("token"), ["read"]).row


# Servers ----------------------------------------------------------------------------------


def ssh_key(team: Team, actor: User) -> SshKey:
    return keys.generate_key(actor, team, unique("key"))


def server(team: Team, actor: User) -> Server:
    """A server reached over SSH with the team's key (nothing ever connects in these tests)."""
    return Server.objects.create(
        team=team,
        name=unique("web"),
        host="10.0.0.5",
        ssh_key=ssh_key(team, actor),
        created_by=actor,
    )


def keyless_server(team: Team, actor: User) -> Server:
    """A server without a key: its terminal is refused after the handshake, no SSH tried."""
    return Server.objects.create(team=team, name=unique("web"), host="10.0.0.6", created_by=actor)


def tag(team: Team, actor: User) -> Tag:
    return Tag.objects.create(team=team, name=unique("tag"))


def group(team: Team, actor: User) -> ServerGroup:
    return ServerGroup.objects.create(team=team, name=unique("group"))


def bulk_run(team: Team, actor: User) -> BulkRun:
    target = server(team, actor)
    job = Job.objects.create(team=team, kind="servers.bulk", actor=actor, target_label="bulk")
    run = BulkRun.objects.create(team=team, action="ping", job=job, created_by=actor)
    BulkResult.objects.create(run=run, server=target, server_name=target.name)
    return run


def job(team: Team, actor: User) -> Job:
    """A queued job (cancellable)."""
    return Job.objects.create(
        team=team, kind="core.diagnostics", actor=actor, target_label=unique("job")
    )


# Projects ---------------------------------------------------------------------------------


def project(team: Team, actor: User) -> Project:
    """A project with its first environment ("production") on one server."""
    name = unique("shop")
    return projects.create_project(
        actor,
        team,
        projects.ProjectData(name=name, repository_url="https://git.example.com/shop.git"),
        projects.EnvironmentData(servers=[server(team, actor)], deploy_path="/var/www/shop"),
    )


def environment(team: Team, actor: User) -> Environment:
    return project(team, actor).environments.get()


def variable(team: Team, actor: User) -> Variable:
    return projects.set_variable(actor, environment(team, actor), VARIABLE_KEY, "s3cret-value")


# Deployments ------------------------------------------------------------------------------


def deployment(team: Team, actor: User) -> Deployment:
    """A queued deployment that resolved its commit (so it can be cancelled or redeployed)."""
    made = deployments.request_deployment(actor, environment(team, actor))
    Deployment.objects.filter(pk=made.pk).update(commit_sha=SHA, commit_message="Fix the cart")
    made.refresh_from_db()
    return made


def release(team: Team, actor: User) -> Release:
    """A kept release of a finished deployment: one that can be rolled back to."""
    made = deployment(team, actor)
    assert made.job is not None
    Job.objects.filter(pk=made.job.pk).update(status=JobStatus.SUCCEEDED)
    return Release.objects.create(
        environment=made.environment,
        deployment=made,
        commit_sha=SHA,
        name=f"20270101000000-{made.pk}",
        status=ReleaseStatus.KEPT,
    )


def schedule(team: Team, actor: User) -> ScheduledDeployment:
    """A pending scheduled deployment, a week from now."""
    when = (timezone.now() + timedelta(days=7)).replace(tzinfo=None, second=0, microsecond=0)
    return scheduling.schedule_deployment(
        actor, environment(team, actor), when, "UTC", note=unique("note")
    )


# Webhooks ---------------------------------------------------------------------------------


def webhook_delivery(team: Team, actor: User) -> WebhookDelivery:
    """A verified push of a project's branch, as received (so it can be redelivered)."""
    config = webhooks.config_of(project(team, actor))
    body = json.dumps({"ref": "main", "sha": SHA, "message": "Fix the cart"}).encode()
    return webhooks.receive("custom", config.public_id, signed(config.secret, body), body).delivery


def signed(secret: str, body: bytes) -> dict[str, str]:
    """The headers of a push to the "custom" receiver, signed with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-DevFlow-Event": "push",
        "X-DevFlow-Delivery": secrets.token_hex(8),
        "X-DevFlow-Signature": f"sha256={digest}",
    }


# Monitoring -------------------------------------------------------------------------------


def metrics_token(team: Team, actor: User) -> MetricsToken:
    return tokens.create(actor, team, unique("scraper")).row


def health_check(team: Team, actor: User) -> HealthCheck:
    return health.create(
        actor, team, health.CheckData(name=unique("site"), url="https://example.com/health")
    )


def alert_rule(team: Team, actor: User) -> AlertRule:
    data = alerts.RuleData(name=unique("cpu"), metric="cpu", operator=">", threshold=90.0)
    return alerts.create_rule(team, actor, data)


def alert(team: Team, actor: User) -> Alert:
    """A triggered alert (so it can be acknowledged or resolved)."""
    rule = alert_rule(team, actor)
    on = server(team, actor)
    return Alert.objects.create(
        team=team,
        rule=rule,
        server=on,
        value=95.0,
        last_value=96.0,
        message=f"{on.name}: CPU is 95.0 %",
        triggered_at=timezone.now(),
    )


# Notifications ----------------------------------------------------------------------------


def channel(team: Team, actor: User) -> Channel:
    return Channel.objects.create(
        team=team,
        name=unique("ops"),
        url="json://127.0.0.1:9/",
        service="json",
        masked_url="json://127.0.0.1:9/",
        events=["deployment.failed"],
        created_by=actor,
    )


def notification_delivery(team: Team, actor: User) -> NotificationDelivery:
    return NotificationDelivery.objects.create(
        team=team,
        channel=channel(team, actor),
        event="deployment.failed",
        title=unique("Deployment failed"),
        body="It failed.",
    )


KINDS: dict[str, Callable[[Team, User], models.Model]] = {
    "team": team,
    "membership": member,
    "invitation": invitation,
    "api_token": api_token,
    "ssh_key": ssh_key,
    "server": server,
    "keyless_server": keyless_server,
    "tag": tag,
    "group": group,
    "bulk_run": bulk_run,
    "job": job,
    "project": project,
    "environment": environment,
    "variable": variable,
    "deployment": deployment,
    "release": release,
    "schedule": schedule,
    "webhook_delivery": webhook_delivery,
    "metrics_token": metrics_token,
    "health_check": health_check,
    "alert_rule": alert_rule,
    "alert": alert,
    "channel": channel,
    "notification_delivery": notification_delivery,
}


def make(kind: str, team: Team, actor: User) -> Any:
    return KINDS[kind](team, actor)
