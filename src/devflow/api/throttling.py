"""Request rates per token (or signed-in user) and per address; over the rate is a 429
with Retry-After."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from devflow.api.authentication import token_of


class PerTokenThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self) -> str:
        return settings.DEVFLOW_API_RATE_PER_TOKEN

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        token = token_of(request)
        if token is not None:
            return f"throttle:token:{token.pk}"
        if request.user and request.user.is_authenticated:
            return f"throttle:user:{request.user.pk}"
        return None


class PerAddressThrottle(SimpleRateThrottle):
    scope = "address"

    def get_rate(self) -> str:
        return settings.DEVFLOW_API_RATE_PER_ADDRESS

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return f"throttle:address:{self.get_ident(request)}"
