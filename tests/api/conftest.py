"""API clients: a token per scope set, sent as a bearer header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from devflow.accounts import api_tokens
from devflow.accounts.models import User


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """`api(user, "read", "deploy")`: a client with a new token of those scopes."""

    def make(user: User | None = None, *scopes: str, token: str | None = None) -> APIClient:
        client = APIClient()
        if token is None and user is not None:
            token = api_tokens.create(user, "test", list(scopes) or ["read"]).token
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


def problem_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/problem+json"), response.content
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-serializer-snapshot",
        action="store_true",
        help="Rewrite tests/api/serializer_fields.json from the API's serializers (after "
        "reviewing each new field for secrets).",
    )
