"""Look-ups every page shares: who is asking, in which team, and may they do it.

Another team's object is a 404 (it does not exist for the user); a teammate whose
role is too low for the action gets a 403 (it exists, they may not do that).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from devflow.accounts.choices import Action
from devflow.accounts.models import Team, User
from devflow.core.tenancy import TeamScopedQuerySet, can

_M = TypeVar("_M", bound=models.Model)


def me(request: HttpRequest | Any) -> User:
    if not isinstance(request.user, User):
        raise Http404
    return request.user


def current_team(request: HttpRequest, action: str = Action.VIEW) -> Team:
    """The team the user works in; a 404 without one, a 403 if their role is too low."""
    team = getattr(request, "team", None)
    if not team or not can(request.user, Action.VIEW, team):
        raise Http404
    if action != Action.VIEW and not can(request.user, action, team):
        raise PermissionDenied(f"Your role in {team.name} does not allow this.")
    return team


def fetch(
    request: HttpRequest, queryset: TeamScopedQuerySet[_M], action: str = Action.VIEW, **lookup: Any
) -> _M:
    """Return the object if a team of the user holds it (else 404) and allows `action` (403)."""
    obj = get_object_or_404(queryset.for_user(request.user, Action.VIEW), **lookup)
    if action != Action.VIEW and not can(request.user, action, obj):
        raise PermissionDenied("Your role in this team does not allow this.")
    return obj
