"""Personal access tokens for the API and the `devflow` command line.

A token is `dfp_` and 43 URL-safe characters (32 random bytes), shown once. The row keeps
its SHA-256 and first characters: a presented token finds its row by those characters and
is compared by hash in constant time. A token ends when it expires, when someone revokes it,
and when its user's password or role changes (what it was trusted with has changed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from devflow.accounts.models import ApiToken, TokenScope, User
from devflow.core import audit

SCHEME = "dfp_"
PREFIX_LENGTH = len(SCHEME) + 8
LAST_USED_PRECISION = timedelta(minutes=1)
MAX_TOKENS_PER_USER = 50


class TokenError(Exception):
    """A token cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    token: str


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    user: User,
    name: str,
    scopes: list[str],
    *,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> NewToken:
    name = name.strip()[:100]
    if not name:
        raise TokenError("Give the token a name that says where it is used.")
    unknown = [s for s in scopes if s not in TokenScope.values]
    if unknown or not scopes:
        raise TokenError(
            f"Choose scopes among {', '.join(TokenScope.values)}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else ".")
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry must be in the future.")
    if active(user).count() >= MAX_TOKENS_PER_USER:
        raise TokenError(f"You have {MAX_TOKENS_PER_USER} tokens; revoke some first.")
    token = SCHEME + secrets.token_urlsafe(32)
    ordered = [s for s in TokenScope.values if s in scopes]
    row = ApiToken.objects.create(
        user=user,
        name=name,
        token_hash=hash_of(token),
        prefix=token[:PREFIX_LENGTH],
        scopes=ordered,
        expires_at=expires_at,
    )
    audit.record(
        "api_token.created", actor=user, target=row, request=request,
        details={"scopes": ordered, "expires_at": expires_at.isoformat() if expires_at else None},
    )  # fmt: skip
    return NewToken(row=row, token=token)


def active(user: User) -> Any:
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=now)


def check(token: str, ip_address: str | None = None) -> ApiToken | None:
    """The live token row for `token`, or None (unknown, wrong, revoked, expired)."""
    if not token.startswith(SCHEME) or len(token) > 100:
        return None
    candidates = ApiToken.objects.filter(prefix=token[:PREFIX_LENGTH]).select_related("user")
    presented = hash_of(token)
    now = timezone.now()
    for row in candidates:
        if not hmac.compare_digest(row.token_hash, presented):
            continue
        if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            return None
        if not row.user.is_active:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now, last_used_ip=ip_address)
            row.last_used_at, row.last_used_ip = now, ip_address
        return row
    return None


def revoke(
    actor: User, row: ApiToken, *, reason: str = "revoked by hand", request: Any = None
) -> None:
    if row.revoked_at is not None:
        return
    ApiToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now(), revoked_reason=reason)
    row.revoked_at, row.revoked_reason = timezone.now(), reason
    audit.record(
        "api_token.revoked", actor=actor, target=row, request=request, details={"reason": reason}
    )


def revoke_all(user: User, reason: str) -> int:
    """End every live token of `user` (their password or role changed)."""
    count = active(user).update(revoked_at=timezone.now(), revoked_reason=reason[:200])
    if count:
        audit.record(
            "api_token.revoked_all", actor=None, target=user, source="system",
            details={"reason": reason, "count": count},
        )  # fmt: skip
    return count


# A changed password ends the user's tokens, however it was changed (page, admin, reset).


@receiver(pre_save, sender=User)
def _note_password_change(sender: Any, instance: User, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = stored is not None and stored != instance.password  # type: ignore[attr-defined]


@receiver(post_save, sender=User)
def _revoke_on_password_change(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and getattr(instance, "_password_changed", False):
        instance._password_changed = False  # type: ignore[attr-defined]
        revoke_all(instance, "the password changed")
