"""Users, teams, memberships with roles, invitations, two-factor recovery codes, login attempts."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

from devflow.accounts.choices import Role
from devflow.core.fields import EncryptedTextField
from devflow.core.tenancy import TeamScopedQuerySet


def hash_token(token: str) -> str:
    """Hash a single-use token for storage; only the hash is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class User(AbstractUser):
    """A person who signs in. E-mail is unique; the TOTP secret is encrypted at rest."""

    email = models.EmailField("e-mail address", unique=True)
    totp_secret = EncryptedTextField(blank=True, default="")
    totp_enabled = models.BooleanField(default=False)
    last_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[UserManager[User]] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.username


class TeamQuerySet(TeamScopedQuerySet["Team"]):
    def for_user(self, user: Any, action: str = "view") -> TeamQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        from devflow.accounts.choices import roles_allowed

        return self.filter(
            memberships__user=user, memberships__role__in=roles_allowed(action)
        ).distinct()


class Team(models.Model):
    """A group of users that owns servers, projects and everything else."""

    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False, help_text="Created for one user at sign-up.")
    # Health checks and notifiers may reach loopback and private addresses (an owner's choice;
    # link-local and cloud metadata addresses stay refused whatever this says).
    allow_private_egress = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a team."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_user_team_unique")
        ]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.role}"


class Invitation(models.Model):
    """A single-use, expiring invitation to join a team, bound to one e-mail address."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.team}"

    @property
    def is_pending(self) -> bool:
        from django.utils import timezone

        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class RecoveryCode(models.Model):
    """A single-use two-factor recovery code; only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Recovery code of {self.user}"


class LoginAttempt(models.Model):
    """One sign-in attempt, kept for rate limiting per account and per address."""

    username = models.CharField(max_length=254, db_index=True)
    ip_address = models.GenericIPAddressField(null=True)
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginattempt_user_at"),
            models.Index(fields=["ip_address", "at"], name="loginattempt_ip_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address} at {self.at}"


class TokenScope(models.TextChoices):
    """What an API token may do; its user's role still applies on top."""

    READ = "read", "read: see everything the user sees"
    DEPLOY = "deploy", "deploy: deploy, roll back, run actions"
    WRITE = "write", "write: create and change servers, projects, settings"
    ADMIN = "admin", "admin: manage members and teams"
    READ_SECRETS = "read:secrets", "read:secrets: see variable values and other secrets"


class ApiToken(models.Model):
    """A personal access token. Only the SHA-256 of the token and its first characters are kept.

    Revoked when its user's password or role changes, or by hand; `expires_at` ends it too.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, db_index=True)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
