from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from devflow.accounts.models import Membership, Team


def teams(request: HttpRequest) -> dict[str, Any]:
    """Expose the current team, the user's teams and their role to every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    team = getattr(request, "team", None)
    team = team if team else None
    role = None
    if team is not None:
        role = (
            Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()
        )
    return {
        "current_team": team,
        "current_role": role,
        "my_teams": Team.objects.for_user(user),
    }
