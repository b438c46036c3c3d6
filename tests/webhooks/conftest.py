"""Signed webhook requests over HTTP to the running app, built from providers' real payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.conftest import (  # noqa: F401  (fixtures)
    client_key,
    git_repo,
    local_server,
    make_project,
    make_server,
    no_queue,
)

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(provider: str, secret: str, body: bytes, event: str = "") -> dict[str, str]:
    """The headers each provider sends, signed the way it signs."""
    delivery = str(uuid.uuid4())
    if provider == "github":
        return {
            "X-GitHub-Event": event or "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body),
            "User-Agent": "GitHub-Hookshot/044aadd",
        }
    if provider == "gitlab":
        return {
            "X-Gitlab-Event": event or "Push Hook",
            "X-Gitlab-Event-UUID": delivery,
            "X-Gitlab-Token": secret,
            "User-Agent": "GitLab/17.0.0",
        }
    if provider == "bitbucket":
        return {
            "X-Event-Key": event or "repo:push",
            "X-Request-UUID": delivery,
            "X-Hub-Signature": "sha256=" + hmac_hex(secret, body),
            "User-Agent": "Bitbucket-Webhooks/2.0",
        }
    return {
        "X-DevFlow-Event": event or "push",
        "X-DevFlow-Delivery": delivery,
        "X-DevFlow-Signature": "sha256=" + hmac_hex(secret, body),
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def hook_url(live_server):  # type: ignore[no-untyped-def]
    def url(provider: str, public_id: str) -> str:
        return f"{live_server.url}/hooks/{provider}/{public_id}"

    return url
