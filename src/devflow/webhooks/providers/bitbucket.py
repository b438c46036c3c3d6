"""Bitbucket Cloud: HMAC-SHA256 in X-Hub-Signature; repo:push with one or more changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devflow.webhooks.providers.base import (
    Event,
    PayloadError,
    Push,
    Receiver,
    register,
    require,
    signature_matches,
    text,
)


@register
class Bitbucket(Receiver):
    name = "bitbucket"
    label = "Bitbucket"
    event_header = "X-Event-Key"
    delivery_header = "X-Request-UUID"
    signature_header = "X-Hub-Signature"
    setup = (
        "Repository settings → Webhooks → Add webhook. URL: the URL below; Secret: the "
        "project's webhook secret; Triggers: Repository push."
    )

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> tuple[bool, str]:
        signature = headers.get(self.signature_header, "")
        if not signature:
            return False, f"no {self.signature_header} header"
        if not signature_matches(secret, body, signature):
            return False, "signature mismatch"
        return True, "signature valid"

    def parse(self, event: str, payload: Any) -> Event:
        if event != "repo:push":
            return Event("other", event)
        changes = require(payload, "push", "changes")
        if not isinstance(changes, list):
            raise PayloadError("push.changes is not a list")
        pushes = []
        for change in changes:
            new = (change or {}).get("new")
            old = (change or {}).get("old") or {}
            if not new:  # a deleted branch or tag
                name = old.get("name", "")
                prefix = "refs/tags/" if old.get("type") == "tag" else "refs/heads/"
                pushes.append(Push(prefix + name, ""))
                continue
            prefix = "refs/tags/" if new.get("type") == "tag" else "refs/heads/"
            target = new.get("target") or {}
            author = target.get("author") or {}
            name = (author.get("user") or {}).get("display_name") or author.get("raw", "")
            pushes.append(
                Push(
                    prefix + str(new.get("name", "")),
                    str(target.get("hash", "")),
                    text(target.get("message")),
                    text(name, 200),
                )
            )
        return Event("push", event, pushes)
