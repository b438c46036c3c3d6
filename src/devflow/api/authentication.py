"""`Authorization: Bearer dfp_…` for scripts and the CLI; the page's own calls use the session.

Wrong tokens are counted per address: past DEVFLOW_API_BAD_TOKENS_PER_MINUTE the address gets
429 for the rest of the minute, so guessing is slow.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from devflow.accounts import api_tokens
from devflow.accounts.models import ApiToken, User
from devflow.core.audit import client_ip


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _, token = header.partition(" ")
        if keyword != self.keyword:
            return None
        address = client_ip(request._request)
        key = f"api-bad-token:{address}"
        if (cache.get(key) or 0) >= settings.DEVFLOW_API_BAD_TOKENS_PER_MINUTE:
            raise exceptions.Throttled(wait=60, detail="Too many wrong tokens from your address.")
        row = api_tokens.check(token.strip(), address)
        if row is None:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, 60)
            raise exceptions.AuthenticationFailed(
                "The token is unknown, revoked or expired. "
                "Make a new one under Profile → API tokens."
            )
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def token_of(request: Any) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None
