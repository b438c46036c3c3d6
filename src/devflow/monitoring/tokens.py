"""Metrics tokens: make one (shown once), check a bearer token, revoke.

A token is `dfm_` and 43 URL-safe characters (32 random bytes). The row keeps the
SHA-256 of the whole token and its first characters; a presented token finds its
row by those characters and is then compared by hash in constant time, so neither
the database nor a timing difference gives the rest away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from devflow.accounts.models import Team
from devflow.core import audit
from devflow.monitoring.models import MetricsToken

SCHEME = "dfm_"
PREFIX_LENGTH = len(SCHEME) + 8
# Writing last_used_at on every scrape (every 15 s) buys nothing; once a minute is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A token just made: the row, and the only copy of the token itself."""

    row: MetricsToken
    token: str


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(actor: Any, team: Team, name: str, *, request: HttpRequest | None = None) -> NewToken:
    """Make a token for `team`; store only its hash, return it to show once."""
    token = SCHEME + secrets.token_urlsafe(32)
    row = MetricsToken.objects.create(
        team=team,
        name=name.strip()[:100],
        token_hash=hash_of(token),
        prefix=token[:PREFIX_LENGTH],
        created_by=actor,
    )
    audit.record("metrics_token.created", actor=actor, team=team, target=row, request=request)
    return NewToken(row=row, token=token)


def revoke(actor: Any, row: MetricsToken, *, request: HttpRequest | None = None) -> None:
    """Refuse the token from now on (the row stays, for the activity log's sake)."""
    if row.revoked_at is not None:
        return
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    audit.record("metrics_token.revoked", actor=actor, team=row.team, target=row, request=request)


def bearer(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header, or ""."""
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate(token: str) -> MetricsToken | None:
    """The active token row `token` belongs to, or None; notes when it was last used."""
    if not token.startswith(SCHEME) or len(token) < PREFIX_LENGTH + 8 or len(token) > 200:
        return None
    presented = hash_of(token)
    found = None
    candidates = MetricsToken.objects.filter(
        prefix=token[:PREFIX_LENGTH], revoked_at__isnull=True
    ).select_related("team")
    for row in candidates:
        if hmac.compare_digest(row.token_hash, presented):
            found = row
    if found is None:
        return None
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_PRECISION:
        MetricsToken.objects.filter(pk=found.pk).update(last_used_at=now)
        found.last_used_at = now
    return found
