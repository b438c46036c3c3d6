"""Profile → API tokens: list your tokens, create one, revoke one.

Rules live in `accounts.api_tokens` (including the audit). A new token is only ever in the
response to the POST that made it: never in the session, a message or a log; the page that
shows it is not cached, and a reload asks the browser to post again (making another token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from devflow.accounts import api_tokens
from devflow.accounts.forms import TokenForm
from devflow.accounts.models import ApiToken
from devflow.core.access import me

# Revoked and expired tokens stay listed (with why they ended) up to this many rows in all.
LISTED = 200


@dataclass(frozen=True)
class Row:
    """A token as the list shows it: active, expired, or revoked (with its reason)."""

    token: ApiToken
    status: str


def _status(token: ApiToken, now: Any) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _page(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    now = timezone.now()
    tokens = ApiToken.objects.filter(user=me(request)).order_by("-created_at", "-id")[:LISTED]
    context: dict[str, Any] = {
        "form": form,
        "tokens": [Row(token, _status(token, now)) for token in tokens],
        "api_base": request.build_absolute_uri("/api/v1/"),
        "max_tokens": api_tokens.MAX_TOKENS_PER_USER,
    }
    return render(request, "accounts/api_tokens.html", context, status=status)


@never_cache
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens and the form for a new one; a valid POST shows the new token once."""
    if request.method != "POST":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        made = api_tokens.create(
            me(request), data["name"], data["scopes"], expires_at=data["expires_at"],
            request=request,
        )  # fmt: skip
    except api_tokens.TokenError as error:
        form.add_error(None, str(error))
        return _page(request, form, status=400)
    return render(
        request,
        "accounts/api_token_created.html",
        {"row": made.row, "token": made.token, "api_base": request.build_absolute_uri("/api/v1/")},
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of your own tokens (another user's is a 404)."""
    row = get_object_or_404(ApiToken, pk=token_id, user=me(request))
    if row.revoked_at is None:
        api_tokens.revoke(me(request), row, request=request)
        messages.success(request, f"Revoked “{row.name}”: requests with it get 401 from now on.")
    return redirect(reverse("accounts:api_tokens"))
