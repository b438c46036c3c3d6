"""Team ownership: every domain row belongs to a team, and one queryset method scopes it.

`Model.objects.for_user(user, action)` is the only way pages, the API, jobs and
WebSocket consumers list or fetch team-owned rows, so none of them can forget
the scope. `can(user, action, obj)` answers for a single object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeVar

from django.db import models

from devflow.accounts.choices import roles_allowed

if TYPE_CHECKING:
    from devflow.accounts.models import Team, User

_M = TypeVar("_M", bound=models.Model)


class TeamScopedQuerySet(models.QuerySet[_M]):
    """A queryset that knows how to restrict itself to what a user may see or do."""

    team_path = "team"

    def for_user(self, user: Any, action: str = "view") -> Self:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        lookup = {
            f"{self.team_path}__memberships__user": user,
            f"{self.team_path}__memberships__role__in": roles_allowed(action),
        }
        return self.filter(**lookup)

    def for_team(self, team: Team) -> Self:
        return self.filter(**{self.team_path: team})


class TeamOwnedModel(models.Model):
    """Abstract base for every row that belongs to a team."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        abstract = True


def team_of(obj: models.Model) -> Team | None:
    """Return the team an object belongs to (a Team is its own team)."""
    from devflow.accounts.models import Team

    if isinstance(obj, Team):
        return obj
    team = getattr(obj, "team", None)
    return team if isinstance(team, Team) else None


def can(user: User | Any, action: str, obj: models.Model) -> bool:
    """Decide whether `user` may perform `action` on `obj`; the one permission entry point."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    team = team_of(obj)
    if team is None:
        return False
    from devflow.accounts.models import Membership

    return Membership.objects.filter(user=user, team=team, role__in=roles_allowed(action)).exists()
