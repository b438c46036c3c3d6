"""The base of every API view set: team scope through `for_user`, the role/scope permission,
and the team a new object goes to."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import exceptions, viewsets

from devflow.accounts.choices import Action
from devflow.accounts.models import Team
from devflow.api.schema import ProblemAutoSchema
from devflow.core.tenancy import can


class TeamScopedViewSet(viewsets.GenericViewSet):
    """Subclasses set `queryset` (a TeamScopedQuerySet); they only ever see the user's teams.

    An extra @action names what it needs: `@action(..., required_action=Action.DEPLOY)`.
    """

    required_action: str | None = None
    schema = ProblemAutoSchema()

    def get_queryset(self) -> models.QuerySet[Any]:
        queryset = super().get_queryset()
        return queryset.for_user(self.request.user, Action.VIEW)  # type: ignore[attr-defined]

    def team_for_new(self, team_id: Any) -> Team:
        """The team a new object is created in: one of the user's, where they may edit."""
        user = self.request.user
        teams = Team.objects.for_user(user, Action.VIEW)
        if team_id in (None, ""):
            mine = list(teams[:2])
            if len(mine) != 1:
                raise exceptions.ValidationError({"team": ["Say which team (its id)."]})
            team = mine[0]
        else:
            found = teams.filter(pk=team_id).first() if str(team_id).isdigit() else None
            if found is None:
                raise exceptions.ValidationError({"team": ["No such team of yours."]})
            team = found
        if not can(user, Action.EDIT, team):
            raise exceptions.PermissionDenied("Your role in this team does not allow this.")
        return team
