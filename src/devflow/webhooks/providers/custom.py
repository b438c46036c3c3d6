"""Custom: any CI signs a small JSON body with the webhook secret.

POST <url>
X-DevFlow-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>
X-DevFlow-Event: push            (optional; "ping" answers OK)
X-DevFlow-Delivery: <unique id>  (optional; repeats are ignored)

{"ref": "main" or "refs/heads/main" or "refs/tags/v1.2", "sha": "<40 hex>",
 "message": "optional"}
"""

from __future__ import annotations

import re
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

_SHA = re.compile(r"^[0-9a-f]{40}$")


@register
class Custom(Receiver):
    name = "custom"
    label = "Custom (any CI)"
    event_header = "X-DevFlow-Event"
    delivery_header = "X-DevFlow-Delivery"
    signature_header = "X-DevFlow-Signature"
    setup = (
        'POST {"ref": "main", "sha": "<commit>", "message": "…"} to the URL below with the '
        "header X-DevFlow-Signature: sha256=<HMAC-SHA256 of the body with the webhook secret>."
    )

    def event_name(self, headers: Mapping[str, str]) -> str:
        return headers.get(self.event_header, "push")[:60] or "push"

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
        ref = str(require(payload, "ref")).strip()
        sha = str(require(payload, "sha")).strip().lower()
        if not _SHA.match(sha):
            raise PayloadError("sha must be a full 40-character commit id")
        if not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}"
        return Event("push", event, [Push(ref, sha, text(payload.get("message")))])
