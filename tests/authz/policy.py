"""Who may call each route, and with which object: the authorization matrix's expectations.

Every route of the URL conf (and every WebSocket) needs an entry here; the matrix fails on a
route without one ("add a policy for <name> in tests/authz/policy.py") and on an entry whose
route no longer exists. API routes under /api/v1/ are derived from their view sets (the role
`devflow.api.permissions.required_action` asks for, per DRF action); API_EXCEPTIONS holds only
what the view set decides elsewhere, and the objects and bodies the cases need.

A Rule names the lowest role that may use a method:
  VIEWER < DEPLOYER < MAINTAINER < OWNER (members of the object's team), or
  PUBLIC (anyone, signed in or not), AUTHENTICATED (any signed-in user: their own pages),
  STAFF (Django's admin: no team role is enough), NOBODY (the route answers 404 to everyone).
and how a teammate below that role is refused (`denied`):
  "403"       the default: the page or the API says no;
  "404"       the page hides the object from roles that may not act on it (give a reason);
  "message"   a redirect with an error message, nothing done (team membership pages);
  "no_effect" the form is shown again with an error; `effect` tells whether it was done.
`obj` is the kind of object (tests/authz/factories.py) the case makes in Acme; `kwargs` maps
each URL kwarg to an attribute path of it ("pk", "project_id", "environment.project_id") or,
after "=", to a literal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from devflow.accounts.choices import ACTION_MIN_ROLE, Action

VIEWER, DEPLOYER, MAINTAINER, OWNER = "viewer", "deployer", "maintainer", "owner"
ROLES = (VIEWER, DEPLOYER, MAINTAINER, OWNER)
PUBLIC, AUTHENTICATED, STAFF, NOBODY = "public", "authenticated", "staff", "nobody"

Body = Callable[[Any], dict[str, Any]]
Effect = Callable[[Any], bool]

# Why a refusal is not the usual 403, when the Rule does not say.
MESSAGE = (
    "the team pages call the accounts services, whose AccountError becomes an error message "
    "on the team page (a redirect), nothing changed"
)

DEFAULT_REASONS = {"message": MESSAGE}


@dataclass(frozen=True)
class Rule:
    """The lowest role that may use a method, and how those below it are refused."""

    role: str
    denied: str = "403"
    body: Body | None = None
    effect: Effect | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.reason and self.denied in DEFAULT_REASONS:
            object.__setattr__(self, "reason", DEFAULT_REASONS[self.denied])


@dataclass(frozen=True)
class Policy:
    methods: dict[str, Rule]
    obj: str | None = None
    kwargs: dict[str, str] = field(default_factory=dict)
    # The object is the acting user's own (API tokens), not their team's.
    per_user: bool = False
    # A GET lists objects of this kind: the owner sees Acme's, another team's owner must not.
    lists: str | None = None
    # Not exercised by the generic matrix (the reason says why; a dedicated test covers it).
    dedicated: str = ""
    # A path for routes that cannot be reversed (unnamed catch-alls).
    sample_path: str = ""
    # Known authorization bugs: (method, principal) -> reason; the case is xfail(strict).
    bugs: dict[tuple[str, str], str] = field(default_factory=dict)


def get(role: str = VIEWER, **policy: Any) -> Policy:
    return Policy({"GET": Rule(role)}, **policy)


def post(role: str, denied: str = "403", body: Body | None = None, **policy: Any) -> Policy:
    return Policy({"POST": Rule(role, denied, body=body)}, **policy)


def form(role: str, denied: str = "403", **policy: Any) -> Policy:
    """A page showing a form (GET) that it also handles (POST)."""
    return Policy({"GET": Rule(role, denied), "POST": Rule(role, denied)}, **policy)


def view_and_edit(denied: str = "403", **policy: Any) -> Policy:
    """A page every member sees, whose form only maintainers may submit."""
    return Policy({"GET": Rule(VIEWER), "POST": Rule(MAINTAINER, denied)}, **policy)


SERVER = {"server_id": "pk"}


def _new_member_email(team: Any) -> str:
    return f"new-member-of-{team.pk}@example.com"


def _invited(team: Any) -> bool:
    from devflow.accounts.models import Invitation

    return Invitation.objects.filter(team=team, email=_new_member_email(team)).exists()


POLICY: dict[str, Policy] = {
    # Accounts ---------------------------------------------------------------------------
    "accounts:setup": Policy(
        {"GET": Rule(PUBLIC), "POST": Rule(PUBLIC)},
        # The first-run form while nobody exists; a 404 for everyone once someone does.
    ),
    "accounts:login": Policy({"GET": Rule(PUBLIC), "POST": Rule(PUBLIC)}),
    "accounts:login_2fa": Policy({"GET": Rule(PUBLIC), "POST": Rule(PUBLIC)}),
    "accounts:logout": post(PUBLIC),
    "accounts:signup": Policy({"GET": Rule(PUBLIC), "POST": Rule(PUBLIC)}),
    "accounts:invitation": Policy(
        {"GET": Rule(PUBLIC), "POST": Rule(PUBLIC)},
        obj="invitation",
        kwargs={"token": "raw_token"},
    ),
    "accounts:profile": form(AUTHENTICATED),
    "accounts:two_factor_setup": form(AUTHENTICATED),
    "accounts:two_factor_disable": post(AUTHENTICATED),
    "accounts:recovery_codes": post(AUTHENTICATED),
    "accounts:api_tokens": form(AUTHENTICATED),
    "accounts:api_token_revoke": post(
        AUTHENTICATED, obj="api_token", kwargs={"token_id": "pk"}, per_user=True
    ),
    "accounts:teams": form(AUTHENTICATED),
    "accounts:team_detail": Policy(
        {
            "GET": Rule(VIEWER),
            "POST": Rule(
                MAINTAINER,
                "no_effect",
                body=lambda team: {"email": _new_member_email(team), "role": VIEWER},
                effect=_invited,
                reason="inviting is refused with a form error (the service's AccountError)",
            ),
        },
        obj="team",
        kwargs={"team_id": "pk"},
    ),
    "accounts:team_switch": post(VIEWER, obj="team", kwargs={"team_id": "pk"}),
    "accounts:team_private_egress": post(
        OWNER, "message", body=lambda team: {"allowed": "1"}, obj="team", kwargs={"team_id": "pk"}
    ),
    "accounts:member_role": post(
        OWNER,
        "message",
        body=lambda m: {"role": VIEWER},
        obj="membership",
        kwargs={"team_id": "team_id", "membership_id": "pk"},
    ),
    "accounts:member_remove": post(
        OWNER, "message", obj="membership", kwargs={"team_id": "team_id", "membership_id": "pk"}
    ),
    "accounts:invitation_revoke": post(
        MAINTAINER,
        "message",
        obj="invitation",
        kwargs={"team_id": "team_id", "invitation_id": "pk"},
    ),
    # Servers ----------------------------------------------------------------------------
    "servers:list": get(lists="server"),
    "servers:add": form(MAINTAINER),
    "servers:add_local": post(MAINTAINER),
    "servers:detail": get(obj="server", kwargs=SERVER),
    "servers:edit": form(MAINTAINER, obj="server", kwargs=SERVER),
    "servers:delete": post(MAINTAINER, obj="server", kwargs=SERVER),
    "servers:check": post(DEPLOYER, obj="server", kwargs=SERVER),
    "servers:action": post(
        DEPLOYER, obj="server", kwargs={"server_id": "pk", "name": "=disk_usage"}
    ),
    "servers:retrust": post(MAINTAINER, obj="server", kwargs=SERVER),
    "servers:terminal": Policy({"GET": Rule(MAINTAINER)}, obj="server", kwargs=SERVER),
    "servers:bulk_list": get(),  # runs have no name to look for; the API list is checked
    "servers:bulk_start": post(
        MAINTAINER,
        "message",
        body=lambda s: {"action": "run_command", "server": [s.pk], "command": "uptime"},
        obj="server",
    ),
    "servers:bulk_detail": get(obj="bulk_run", kwargs={"run_id": "pk"}),
    "servers:keys": view_and_edit(lists="ssh_key"),
    "servers:key_detail": get(obj="ssh_key", kwargs={"key_id": "pk"}),
    "servers:key_download": post(OWNER, obj="ssh_key", kwargs={"key_id": "pk"}),
    "servers:key_delete": post(MAINTAINER, obj="ssh_key", kwargs={"key_id": "pk"}),
    "servers:key_rotate": post(MAINTAINER, obj="ssh_key", kwargs={"key_id": "pk"}),
    "servers:key_deploy": post(MAINTAINER, obj="ssh_key", kwargs={"key_id": "pk"}),
    "servers:labels": view_and_edit(lists="tag"),
    "servers:tag_delete": post(MAINTAINER, obj="tag", kwargs={"tag_id": "pk"}),
    "servers:group_delete": post(MAINTAINER, obj="group", kwargs={"group_id": "pk"}),
    # Projects ---------------------------------------------------------------------------
    "projects:list": get(lists="project"),
    "projects:new": form(MAINTAINER),
    "projects:detail": get(obj="project", kwargs={"project_id": "pk"}),
    "projects:settings": form(MAINTAINER, obj="project", kwargs={"project_id": "pk"}),
    "projects:save_template": post(
        MAINTAINER, body=lambda p: {"name": "Saved"}, obj="project", kwargs={"project_id": "pk"}
    ),
    "projects:delete": post(OWNER, obj="project", kwargs={"project_id": "pk"}),
    "projects:environment_add": form(MAINTAINER, obj="project", kwargs={"project_id": "pk"}),
    "projects:environment_edit": form(
        MAINTAINER,
        obj="environment",
        kwargs={"project_id": "project_id", "environment_id": "pk"},
    ),
    "projects:environment_delete": post(
        MAINTAINER,
        obj="environment",
        kwargs={"project_id": "project_id", "environment_id": "pk"},
    ),
    "projects:refresh_commits": post(
        DEPLOYER,
        obj="environment",
        kwargs={"project_id": "project_id", "environment_id": "pk"},
    ),
    "projects:variables": view_and_edit(
        obj="environment", kwargs={"project_id": "project_id", "environment_id": "pk"}
    ),
    "projects:variable_delete": post(
        MAINTAINER,
        body=lambda v: {"key": v.key},
        obj="variable",
        kwargs={"project_id": "environment.project_id", "environment_id": "environment_id"},
    ),
    # Deployments ------------------------------------------------------------------------
    "deployments:list": get(lists="deployment"),
    "deployments:detail": get(obj="deployment", kwargs={"deployment_id": "pk"}),
    "deployments:steps": get(obj="deployment", kwargs={"deployment_id": "pk"}),
    "deployments:cancel": post(DEPLOYER, obj="deployment", kwargs={"deployment_id": "pk"}),
    "deployments:redeploy": post(DEPLOYER, obj="deployment", kwargs={"deployment_id": "pk"}),
    "deployments:rollback": post(DEPLOYER, obj="release", kwargs={"release_id": "pk"}),
    "deployments:deploy": post(DEPLOYER, obj="environment", kwargs={"environment_id": "pk"}),
    "deployments:schedule": form(DEPLOYER, obj="environment", kwargs={"environment_id": "pk"}),
    "deployments:schedule_edit": form(DEPLOYER, obj="schedule", kwargs={"schedule_id": "pk"}),
    "deployments:schedule_cancel": post(DEPLOYER, obj="schedule", kwargs={"schedule_id": "pk"}),
    # Webhooks ---------------------------------------------------------------------------
    "webhook": Policy(
        {"POST": Rule(PUBLIC)},
        dedicated="the receiver authenticates each request by the project's secret, not by a "
        "user; test_webhook_receiver_refuses_another_teams_secret covers it",
    ),
    "webhooks:settings": post(MAINTAINER, obj="project", kwargs={"project_id": "pk"}),
    "webhooks:regenerate_secret": post(MAINTAINER, obj="project", kwargs={"project_id": "pk"}),
    "webhooks:deliveries": get(obj="project", kwargs={"project_id": "pk"}),
    "webhooks:delivery": get(
        obj="webhook_delivery", kwargs={"project_id": "project_id", "delivery_id": "pk"}
    ),
    "webhooks:redeliver": post(
        DEPLOYER, obj="webhook_delivery", kwargs={"project_id": "project_id", "delivery_id": "pk"}
    ),
    # Monitoring -------------------------------------------------------------------------
    "monitoring:overview": get(lists="server"),
    "monitoring:server": get(obj="server", kwargs=SERVER),
    "monitoring:series": get(obj="server", kwargs=SERVER),
    "monitoring:csv": get(obj="server", kwargs=SERVER),
    "monitoring:token_create": post(MAINTAINER, body=lambda _: {"name": "prometheus"}),
    "monitoring:token_revoke": post(MAINTAINER, obj="metrics_token", kwargs={"token_id": "pk"}),
    "monitoring:health_list": get(lists="health_check"),
    "monitoring:health_new": form(MAINTAINER),
    "monitoring:health_detail": get(obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_series": get(obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_edit": form(MAINTAINER, obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_delete": post(MAINTAINER, obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_pause": post(MAINTAINER, obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_resume": post(MAINTAINER, obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:health_run": post(DEPLOYER, obj="health_check", kwargs={"check_id": "pk"}),
    "monitoring:alerts": get(lists="alert"),
    "monitoring:alert_detail": get(obj="alert", kwargs={"alert_id": "pk"}),
    "monitoring:alert_acknowledge": post(DEPLOYER, obj="alert", kwargs={"alert_id": "pk"}),
    "monitoring:alert_resolve": post(DEPLOYER, obj="alert", kwargs={"alert_id": "pk"}),
    "monitoring:alert_rules": get(lists="alert_rule"),
    "monitoring:alert_rule_create": form(MAINTAINER),
    "monitoring:alert_rule_edit": form(MAINTAINER, obj="alert_rule", kwargs={"rule_id": "pk"}),
    "monitoring:alert_rule_delete": form(MAINTAINER, obj="alert_rule", kwargs={"rule_id": "pk"}),
    "prometheus_metrics": Policy(
        {"GET": Rule(PUBLIC)},
        dedicated="authenticated by a team's metrics token, not a user; "
        "test_metrics_endpoint_serves_only_the_tokens_team covers it",
    ),
    # Notifications ----------------------------------------------------------------------
    "notifications:channels": view_and_edit(lists="channel"),
    "notifications:deliveries": get(lists="notification_delivery"),
    "notifications:channel": view_and_edit(obj="channel", kwargs={"channel_id": "pk"}),
    "notifications:channel_test": post(MAINTAINER, obj="channel", kwargs={"channel_id": "pk"}),
    "notifications:channel_secret": post(MAINTAINER, obj="channel", kwargs={"channel_id": "pk"}),
    "notifications:channel_enable": post(MAINTAINER, obj="channel", kwargs={"channel_id": "pk"}),
    "notifications:channel_delete": post(MAINTAINER, obj="channel", kwargs={"channel_id": "pk"}),
    # Core -------------------------------------------------------------------------------
    "dashboard": get(lists="server"),
    "healthz": get(PUBLIC),
    "readyz": get(PUBLIC),
    "jobs": get(lists="job"),
    "job_detail": get(obj="job", kwargs={"job_id": "pk"}),
    "job_log": get(obj="job", kwargs={"job_id": "pk"}),
    "job_cancel": post(DEPLOYER, obj="job", kwargs={"job_id": "pk"}),
    "activity": get(),
    "settings": get(),
    "run_diagnostics": post(DEPLOYER),
    "section": get(NOBODY, kwargs={"section": "=anything"}),
    # API pages that are not view sets -----------------------------------------------------
    "api:schema": get(PUBLIC),
    "api:docs": get(PUBLIC),
    "api:redoc": get(PUBLIC),
    "api:api-root": get(AUTHENTICATED),
    "unnamed:api/v1/^.*$": get(NOBODY, sample_path="/api/v1/nothing-here/"),
    "unnamed:^api/": get(NOBODY, sample_path="/api/v2/servers/"),
    # WebSockets (devflow.asgi.websocket_urls) ------------------------------------------------
    "ws:ws/jobs/<int:job_id>/log": get(obj="job", kwargs={"job_id": "pk"}),
    "ws:ws/servers/<int:server_id>/terminal": get(MAINTAINER, obj="keyless_server", kwargs=SERVER),
}

# Django's admin: staff only, whatever the team role; every route of the "admin" namespace
# and every unnamed route under /admin/ (the object redirects) follow this one policy.
ADMIN_POLICY = get(STAFF)

# The API -------------------------------------------------------------------------------------

# Each view set's basename → the object kind its detail routes fill `pk` with. A new view set
# without an entry fails the matrix like a route without a policy.
API_KINDS: dict[str, str | None] = {
    "me": None,
    "team": "team",
    "token": "api_token",
    "job": "job",
    "activity": None,
    "server": "server",
    "tag": "tag",
    "group": "group",
    "ssh-key": "ssh_key",
    "server-action": None,
    "bulk-run": "bulk_run",
    "project": "project",
    "environment": "environment",
    "deployment": "deployment",
    "release": "release",
    "schedule": "schedule",
    "webhook-delivery": "webhook_delivery",
    "metrics": "server",
    "health-check": "health_check",
    "alert-rule": "alert_rule",
    "alert": "alert",
    "channel": "channel",
    "notification-delivery": "notification_delivery",
}


def _first_server(project: Any) -> int:
    return int(project.environments.get().servers.get().pk)


def _schedule_body(environment: Any) -> dict[str, Any]:
    return {"environment": environment.pk, "local_run_at": "2099-03-28T21:30", "timezone": "UTC"}


# Exceptions to what the view set's actions say, per "api:<name>" and method: a whole Rule
# (with the reason the role differs), or only a body (creates check the role once the body is
# valid, so a case needs a valid one). "obj" entries give list routes the object their body
# names, and routes with extra kwargs their object.
API_EXCEPTIONS: dict[str, dict[str, Any]] = {
    "api:me-list": {"GET": Rule(AUTHENTICATED, reason="IsAuthenticated: who am I")},
    "api:token-list": {
        "GET": Rule(AUTHENTICATED, reason="your own tokens"),
        "POST": Rule(
            AUTHENTICATED,
            body=lambda _: {"name": "ci", "scopes": ["read"]},
            reason="your own tokens",
        ),
    },
    "api:token-detail": {
        "GET": Rule(AUTHENTICATED, reason="your own tokens"),
        "DELETE": Rule(AUTHENTICATED, reason="your own tokens"),
        "per_user": True,
    },
    "api:server-action-list": {
        "GET": Rule(AUTHENTICATED, reason="lists the quick actions there are; no team data"),
        "POST": Rule(DEPLOYER, body=lambda s: {"server": s.pk, "action": "disk_usage"}),
        "obj": "server",
    },
    "api:bulk-run-list": {
        "POST": Rule(
            MAINTAINER,
            body=lambda s: {"servers": [s.pk], "action": "run_command", "command": "uptime"},
            reason="the role a run needs is its action's (run_command: edit), checked in create",
        ),
        "obj": "server",
    },
    "api:project-detail": {
        "DELETE": Rule(OWNER, reason="ProjectViewSet.initial: owners delete projects"),
    },
    "api:project-list": {
        "POST": Rule(
            MAINTAINER,
            body=lambda s: {
                "team": s.team_id,
                "name": "Shop two",
                "repository_url": "https://git.example.com/two.git",
                "environment": {"servers": [s.pk], "deploy_path": "/var/www/two"},
            },
        ),
        "obj": "server",
    },
    "api:environment-list": {
        "POST": Rule(
            MAINTAINER,
            body=lambda p: {
                "project": p.pk,
                "name": "staging",
                "servers": [_first_server(p)],
                "deploy_path": "/var/www/staging",
            },
        ),
        "obj": "project",
    },
    "api:environment-delete-variable": {
        "obj": "variable",
        "kwargs": {"pk": "environment_id", "key": "key"},
    },
    "api:environment-variables": {
        "POST": Rule(MAINTAINER, body=lambda e: {"key": "NEW_KEY", "value": "v"}),
        "PUT": Rule(MAINTAINER, body=lambda e: {"key": "NEW_KEY", "value": "v"}),
    },
    "api:schedule-list": {
        "POST": Rule(
            DEPLOYER,
            body=_schedule_body,
            reason="ScheduleViewSet.initial: deployers schedule, as on the pages",
        ),
        "obj": "environment",
    },
    "api:schedule-detail": {
        "PUT": Rule(DEPLOYER, reason="ScheduleViewSet.initial: deployers reschedule"),
        "PATCH": Rule(DEPLOYER, reason="ScheduleViewSet.initial: deployers reschedule"),
    },
    "api:server-list": {
        "POST": Rule(MAINTAINER, body=lambda t: {"team": t.pk, "name": "web", "host": "10.0.0.9"})
    },
    "api:tag-list": {"POST": Rule(MAINTAINER, body=lambda t: {"team": t.pk, "name": "edge"})},
    "api:group-list": {"POST": Rule(MAINTAINER, body=lambda t: {"team": t.pk, "name": "edge"})},
    "api:ssh-key-list": {"POST": Rule(MAINTAINER, body=lambda t: {"team": t.pk, "name": "ci"})},
    "api:health-check-list": {
        "POST": Rule(
            MAINTAINER, body=lambda t: {"team": t.pk, "name": "up", "url": "https://example.com/"}
        )
    },
    "api:alert-rule-list": {
        "POST": Rule(
            MAINTAINER,
            body=lambda t: {
                "team": t.pk,
                "name": "cpu",
                "metric": "cpu",
                "operator": ">",
                "threshold": 90,
            },
        )
    },
    "api:channel-list": {
        "POST": Rule(
            MAINTAINER, body=lambda t: {"team": t.pk, "name": "ops", "url": "json://example.com/"}
        )
    },
    "api:team-list": {
        "POST": Rule(
            AUTHENTICATED,
            body=lambda _: {"name": "Initech"},
            reason="anyone signed in may start a team (and owns it)",
        ),
    },
    "api:team-invitations": {
        "POST": Rule(MAINTAINER, body=lambda t: {"email": "new@example.com", "role": VIEWER}),
    },
    "api:team-member": {
        "PATCH": Rule(OWNER, body=lambda m: {"role": VIEWER}),
        "obj": "membership",
        "kwargs": {"pk": "team_id", "member_id": "pk"},
    },
}


def api_rule(action: str) -> Rule:
    """The rule a DRF action's `required_action` means: its minimum role."""
    return Rule(str(ACTION_MIN_ROLE[Action(action)]))


def with_exceptions(name: str, derived: Policy) -> Policy:
    """The derived policy of an API route, with what API_EXCEPTIONS says about it."""
    extra = API_EXCEPTIONS.get(name, {})
    methods = dict(derived.methods)
    for method, value in extra.items():
        if method.isupper():
            methods[method] = value
    fields: dict[str, Any] = {"methods": methods}
    for key in ("obj", "kwargs", "per_user", "bugs"):
        if key in extra:
            fields[key] = extra[key]
    return replace(derived, **fields)
