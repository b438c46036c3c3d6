"""Roles and the actions they allow."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """A member's role in a team; each role may do everything the ones before it may."""

    VIEWER = "viewer", "Viewer"  # sees everything in the team
    DEPLOYER = "deployer", "Deployer"  # + deploys, rolls back, runs quick actions
    MAINTAINER = "maintainer", "Maintainer"  # + creates and edits servers, projects, settings
    OWNER = "owner", "Owner"  # + manages members, roles, invitations, deletes the team


class Action(models.TextChoices):
    """What a user wants to do with an object; `can()` decides."""

    VIEW = "view", "View"
    DEPLOY = "deploy", "Deploy"
    EDIT = "edit", "Edit"
    ADMINISTER = "administer", "Administer"


ROLE_RANK = {Role.VIEWER: 1, Role.DEPLOYER: 2, Role.MAINTAINER: 3, Role.OWNER: 4}
ACTION_MIN_ROLE = {
    Action.VIEW: Role.VIEWER,
    Action.DEPLOY: Role.DEPLOYER,
    Action.EDIT: Role.MAINTAINER,
    Action.ADMINISTER: Role.OWNER,
}


def roles_allowed(action: str) -> list[str]:
    """Return the roles that may perform `action`."""
    needed = ROLE_RANK[ACTION_MIN_ROLE[Action(action)]]
    return [role.value for role, rank in ROLE_RANK.items() if rank >= needed]


def role_at_least(role: str, other: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(other)]
