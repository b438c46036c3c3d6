"""GitHub: HMAC-SHA256 of the raw body in X-Hub-Signature-256; push and ping events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devflow.webhooks.providers.base import (
    Event,
    Push,
    Receiver,
    register,
    require,
    signature_matches,
    text,
)


@register
class GitHub(Receiver):
    name = "github"
    label = "GitHub"
    event_header = "X-GitHub-Event"
    delivery_header = "X-GitHub-Delivery"
    signature_header = "X-Hub-Signature-256"
    setup = (
        "Repository → Settings → Webhooks → Add webhook. Payload URL: the URL below; "
        "Content type: application/json; Secret: the project's webhook secret; "
        "events: Just the push event."
    )

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> tuple[bool, str]:
        signature = headers.get(self.signature_header, "")
        if not signature:
            return False, f"no {self.signature_header} header"
        if not signature_matches(secret, body, signature):
            return False, "signature mismatch"
        return True, "signature valid"

    def parse(self, event: str, payload: Any) -> Event:
        if event == "ping":
            return Event("ping", event)
        if event != "push":
            return Event("other", event)
        ref = str(require(payload, "ref"))
        sha = str(require(payload, "after"))
        head = payload.get("head_commit") or {}
        author = (head.get("author") or {}).get("name", "")
        return Event("push", event, [Push(ref, sha, text(head.get("message")), text(author, 200))])
