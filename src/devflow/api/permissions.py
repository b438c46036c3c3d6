"""One rule for every API view: the user's role in the object's team, capped by the token.

Each view action needs an `Action` (view, deploy, edit, administer); a token must also carry
the matching scope. The session (the page's own calls) carries every scope. Objects of teams
the user is not in are never found (404): views read through `for_user`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from devflow.accounts.choices import Action
from devflow.accounts.models import TokenScope
from devflow.api.authentication import token_of
from devflow.core.tenancy import can

SCOPE_FOR = {
    Action.VIEW: TokenScope.READ,
    Action.DEPLOY: TokenScope.DEPLOY,
    Action.EDIT: TokenScope.WRITE,
    Action.ADMINISTER: TokenScope.ADMIN,
}

DEFAULT_ACTIONS = {
    "list": Action.VIEW,
    "retrieve": Action.VIEW,
    "create": Action.EDIT,
    "update": Action.EDIT,
    "partial_update": Action.EDIT,
    "destroy": Action.EDIT,
}


def required_action(view: Any) -> str:
    """The action a view call needs: `required_action` on an @action, else by DRF action."""
    explicit = getattr(view, "required_action", None)
    if explicit:
        return str(explicit)
    name = getattr(view, "action", None) or ""
    if name in DEFAULT_ACTIONS:
        return DEFAULT_ACTIONS[name]
    method = getattr(getattr(view, "request", None), "method", "GET")
    return Action.VIEW if method in permissions.SAFE_METHODS else Action.EDIT


def require_scope(request: Any, action: str) -> None:
    """A token must carry the scope `action` needs (the session carries every scope)."""
    scope = SCOPE_FOR[Action(action)]
    token = token_of(request)
    if token is not None and not token.has_scope(scope):
        raise exceptions.PermissionDenied(
            f"This token lacks the “{scope}” scope needed to {action} here."
        )


def require(request: Any, action: str, obj: Any) -> None:
    """For a view that learns what it will do only from the body (a quick or bulk action): the
    token's scope for `action`, then the user's role in `obj`'s team, as for any other view."""
    require_scope(request, action)
    if not can(request.user, action, obj):
        raise exceptions.PermissionDenied("Your role in this team does not allow this.")


def may_read_secrets(request: Any) -> bool:
    token = token_of(request)
    return token is None or token.has_scope(TokenScope.READ_SECRETS)


class TeamRolePermission(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        require_scope(request, required_action(view))
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        needed = required_action(view)
        if needed != Action.VIEW and not can(request.user, needed, obj):
            raise exceptions.PermissionDenied("Your role in this team does not allow this.")
        return True
