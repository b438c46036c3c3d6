from __future__ import annotations

from django.http import Http404, HttpRequest

from devflow.accounts.choices import Action
from devflow.accounts.models import Team
from devflow.core.access import me
from devflow.core.tenancy import can

__all__ = ["current_team", "me"]


def current_team(request: HttpRequest, action: str = Action.VIEW) -> Team:
    """The team the user works in, if they may do `action` in it; else a 404."""
    team = getattr(request, "team", None)
    if not team or not can(request.user, action, team):
        raise Http404
    return team
