"""Login rate limiting: lock out after repeated failures per account and per address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from devflow.accounts.models import LoginAttempt


@dataclass(frozen=True)
class Lockout:
    reason: str
    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, (self.retry_after_seconds + 59) // 60)
        return f"Too many failed sign-ins {self.reason}. Try again in {minutes} minute(s)."


def _normalize(username: str) -> str:
    return username.strip().lower()[:254]


def lockout_for(username: str, ip_address: str | None) -> Lockout | None:
    """Return the lockout in force for this account or address, if any."""
    window = timedelta(seconds=settings.DEVFLOW_LOGIN_WINDOW_SECONDS)
    since = timezone.now() - window
    failures = LoginAttempt.objects.filter(at__gte=since, succeeded=False)
    by_user = failures.filter(username=_normalize(username)).order_by("-at")
    limit = settings.DEVFLOW_LOGIN_MAX_FAILURES
    if username and by_user.count() >= limit:
        oldest = by_user[limit - 1].at
        return Lockout("for this account", _retry_after(oldest, window))
    if ip_address:
        by_ip = failures.filter(ip_address=ip_address).order_by("-at")
        ip_limit = settings.DEVFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS
        if by_ip.count() >= ip_limit:
            oldest = by_ip[ip_limit - 1].at
            return Lockout("from your address", _retry_after(oldest, window))
    return None


def _retry_after(oldest_counted: datetime, window: timedelta) -> int:
    return max(1, int((oldest_counted + window - timezone.now()).total_seconds()))


def note_attempt(username: str, ip_address: str | None, succeeded: bool) -> None:
    LoginAttempt.objects.create(
        username=_normalize(username), ip_address=ip_address, succeeded=succeeded
    )
    if succeeded:
        # A success clears the account's failures, not the address's.
        LoginAttempt.objects.filter(username=_normalize(username), succeeded=False).delete()
