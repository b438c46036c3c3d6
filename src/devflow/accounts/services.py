"""Rules for accounts: first-run setup, sign-up, teams, memberships, invitations."""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from devflow.accounts import api_tokens
from devflow.accounts.choices import Role, role_at_least
from devflow.accounts.models import Invitation, Membership, Team, User, hash_token
from devflow.core import audit
from devflow.core.models import ActivitySource


class AccountError(Exception):
    """A rule was broken; the message is shown to the user as-is."""


# First-run setup -------------------------------------------------------------


def setup_needed() -> bool:
    """True until the first admin exists."""
    return not User.objects.filter(is_superuser=True).exists()


def setup_token_path() -> Path:
    return Path(settings.DEVFLOW_SETUP_TOKEN_FILE)


def issue_setup_token() -> str | None:
    """Return the one-time setup token (created 0600 if needed), or None once an admin exists."""
    path = setup_token_path()
    if not setup_needed():
        path.unlink(missing_ok=True)
        return None
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def check_setup_token(token: str) -> bool:
    path = setup_token_path()
    if not setup_needed() or not path.exists() or not token:
        return False
    return hmac.compare_digest(path.read_text().strip().encode(), token.strip().encode())


@transaction.atomic
def create_first_admin(
    *, token: str, username: str, email: str, password: str, request: HttpRequest | None = None
) -> User:
    """Create the first admin with the setup token; the token is then destroyed."""
    if not check_setup_token(token):
        raise AccountError("The setup token is wrong or was already used.")
    user = create_user(username=username, email=email, password=password, superuser=True)
    setup_token_path().unlink(missing_ok=True)
    audit.record(
        "setup.admin_created", actor=user, team=user.last_team, target=user, request=request
    )
    return user


def create_user(*, username: str, email: str, password: str, superuser: bool = False) -> User:
    """Create a user and their personal team (they own it)."""
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"The username {username!r} is taken.")
    if User.objects.filter(email__iexact=email).exists():
        raise AccountError(f"An account with the address {email} exists already.")
    if superuser:
        user = User.objects.create_superuser(username=username, email=email, password=password)
    else:
        user = User.objects.create_user(username=username, email=email, password=password)
    team = Team.objects.create(name=f"{username}'s team", personal=True)
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    user.last_team = team
    user.save(update_fields=["last_team"])
    return user


# Teams -----------------------------------------------------------------------


def membership_of(user: Any, team: Team) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user, team=team).first()


def current_team(user: Any, session: Any | None = None) -> Team | None:
    """Return the team the user works in: the last one chosen, else their first."""
    if not getattr(user, "is_authenticated", False):
        return None
    teams = Team.objects.for_user(user)
    team_id = (session or {}).get("team_id") or user.last_team_id
    if team_id:
        team = teams.filter(pk=team_id).first()
        if team is not None:
            return team
    return teams.first()


def switch_team(user: User, team: Team, session: Any) -> None:
    session["team_id"] = team.pk
    user.last_team = team
    user.save(update_fields=["last_team"])


@transaction.atomic
def create_team(
    user: User, name: str, request: HttpRequest | None = None, source: str = ActivitySource.WEB
) -> Team:
    name = name.strip()
    if not name:
        raise AccountError("A team needs a name.")
    team = Team.objects.create(name=name)
    Membership.objects.create(user=user, team=team, role=Role.OWNER)
    audit.record("team.created", actor=user, team=team, target=team, request=request, source=source)
    return team


def owners_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


@transaction.atomic
def change_role(
    actor: User, membership: Membership, role: str, request: HttpRequest | None = None
) -> Membership:
    """Change a member's role. Only owners may; the last owner cannot step down."""
    _require_owner(actor, membership.team)
    role = Role(role)
    if membership.role == Role.OWNER and role != Role.OWNER and owners_count(membership.team) == 1:
        raise AccountError("A team needs at least one owner: make someone else owner first.")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    if old != role:
        api_tokens.revoke_all(membership.user, f"the role in {membership.team} changed")
    audit.record(
        "member.role_changed",
        actor=actor,
        team=membership.team,
        target=membership.user,
        request=request,
        details={"from": old, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(actor: User, membership: Membership, request: HttpRequest | None = None) -> None:
    """Remove a member. Owners may remove anyone; anyone may leave; the last owner stays."""
    team = membership.team
    if membership.user_id != actor.pk:
        _require_owner(actor, team)
    if membership.role == Role.OWNER and owners_count(team) == 1:
        raise AccountError("The last owner cannot leave the team; make someone else owner first.")
    user = membership.user
    membership.delete()
    api_tokens.revoke_all(user, f"left the team {team}")
    audit.record("member.removed", actor=actor, team=team, target=user, request=request)


def _require_owner(actor: User, team: Team) -> Membership:
    mine = membership_of(actor, team)
    if mine is None or mine.role != Role.OWNER:
        raise AccountError("Only an owner of the team may do that.")
    return mine


@transaction.atomic
def set_private_egress(
    actor: User, team: Team, allowed: bool, request: HttpRequest | None = None
) -> None:
    """Let (or stop) the team's health checks and notifiers reach private addresses."""
    _require_owner(actor, team)
    team.allow_private_egress = allowed
    team.save(update_fields=["allow_private_egress"])
    audit.record(
        "team.private_egress_allowed" if allowed else "team.private_egress_refused",
        actor=actor, team=team, target=team, request=request,
    )  # fmt: skip


# Invitations -----------------------------------------------------------------


@transaction.atomic
def invite(
    actor: User, team: Team, email: str, role: str, request: HttpRequest | None = None
) -> tuple[Invitation, str]:
    """Invite `email` to `team` with `role` (not above the inviter's); e-mail the link."""
    mine = membership_of(actor, team)
    if mine is None or not role_at_least(mine.role, Role.MAINTAINER):
        raise AccountError("Only maintainers and owners may invite.")
    role = Role(role)
    if not role_at_least(mine.role, role):
        raise AccountError(
            f"You are {mine.get_role_display().lower()} and cannot invite someone "
            f"as {role.label.lower()}."
        )
    email = email.strip().lower()
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise AccountError(f"{email} is already a member of {team}.")
    Invitation.objects.filter(
        team=team, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=team,
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.DEVFLOW_INVITATION_DAYS),
    )
    link = invitation_link(token, request)
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {team} on DevFlow Pro",
            message=(
                f"{actor.get_username()} invited you to join the team {team} as "
                f"{role.label.lower()}.\n\nAccept: {link}\n\nThe link works once, for {email}, "
                f"until {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    audit.record(
        "invitation.sent",
        actor=actor,
        team=team,
        target=invitation,
        request=request,
        details={"email": email, "role": role},
    )
    return invitation, token


def invitation_link(token: str, request: HttpRequest | None = None) -> str:
    path = reverse("accounts:invitation", args=[token])
    if settings.DEVFLOW_PUBLIC_URL:
        return settings.DEVFLOW_PUBLIC_URL + path
    if request is not None:
        return request.build_absolute_uri(path)
    return path


def find_invitation(token: str) -> Invitation:
    """Return the pending invitation for `token`, or say why it cannot be used."""
    invitation = (
        Invitation.objects.select_related("team").filter(token_hash=hash_token(token)).first()
    )
    if invitation is None:
        raise AccountError("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise AccountError("This invitation was already used.")
    if invitation.revoked_at is not None:
        raise AccountError("This invitation was withdrawn.")
    if invitation.expires_at <= timezone.now():
        raise AccountError("This invitation has expired; ask for a new one.")
    return invitation


@transaction.atomic
def accept_invitation(token: str, user: User, request: HttpRequest | None = None) -> Membership:
    """Join the team; the signed-in user's e-mail must be the invited address."""
    invitation = find_invitation(token)
    if user.email.lower() != invitation.email.lower():
        raise AccountError(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}."
        )
    used = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if used != 1:
        raise AccountError("This invitation was already used.")
    membership, created = Membership.objects.get_or_create(
        user=user, team=invitation.team, defaults={"role": invitation.role}
    )
    if not created and not role_at_least(membership.role, invitation.role):
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    audit.record(
        "invitation.accepted",
        actor=user,
        team=invitation.team,
        target=invitation,
        request=request,
        details={"role": invitation.role},
    )
    return membership


@transaction.atomic
def sign_up_with_invitation(
    token: str, *, username: str, password: str, request: HttpRequest | None = None
) -> User:
    """Create an account for the invited address and join the team."""
    invitation = find_invitation(token)
    user = create_user(username=username, email=invitation.email, password=password)
    accept_invitation(token, user, request)
    return user


def revoke_invitation(
    actor: User, invitation: Invitation, request: HttpRequest | None = None
) -> None:
    mine = membership_of(actor, invitation.team)
    if mine is None or not role_at_least(mine.role, Role.MAINTAINER):
        raise AccountError("Only maintainers and owners may withdraw invitations.")
    Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit.record(
        "invitation.revoked", actor=actor, team=invitation.team, target=invitation, request=request
    )
