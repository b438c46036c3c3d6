"""GitLab: the secret token in X-Gitlab-Token (compared in constant time); push and tag hooks."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from devflow.webhooks.providers.base import Event, Push, Receiver, register, require, text


@register
class GitLab(Receiver):
    name = "gitlab"
    label = "GitLab"
    event_header = "X-Gitlab-Event"
    delivery_header = "X-Gitlab-Event-UUID"
    signature_header = "X-Gitlab-Token"
    setup = (
        "Project → Settings → Webhooks → Add new webhook. URL: the URL below; Secret token: the "
        "project's webhook secret; Trigger: Push events (and Tag push events to deploy tags)."
    )

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        return (headers.get(self.delivery_header) or headers.get("X-Gitlab-Webhook-UUID", ""))[:100]

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> tuple[bool, str]:
        token = headers.get(self.signature_header, "")
        if not token:
            return False, f"no {self.signature_header} header"
        if not hmac.compare_digest(token.encode(), secret.encode()):
            return False, "token mismatch"
        return True, "token valid"

    def parse(self, event: str, payload: Any) -> Event:
        if event not in ("Push Hook", "Tag Push Hook"):
            return Event("other", event)
        ref = str(require(payload, "ref"))
        sha = str(payload.get("checkout_sha") or require(payload, "after"))
        commit = next(
            (c for c in payload.get("commits") or [] if isinstance(c, dict) and c.get("id") == sha),
            {},
        )
        message = commit.get("message") or payload.get("message")
        author = (commit.get("author") or {}).get("name") or payload.get("user_name", "")
        if payload.get("after") == "0" * 40:
            sha = ""  # the branch or tag was deleted
        return Event("push", event, [Push(ref, sha, text(message), text(author, 200))])
