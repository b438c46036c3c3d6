"""OpenAPI examples for the webhooks app's components (see devflow.api.examples)."""

from __future__ import annotations

import json
from typing import Any

SHA = "9d4e1f70a2b3c4d5e6f708192a3b4c5d6e7f8091"
MESSAGE = "Update composer dependencies"
GITHUB_DELIVERY = "7c1e5a40-ac6b-11ef-8f4a-3e2b1c9d0f11"

# A GitHub push to acme/shop's main branch, shortened to the fields a push is read by.
PAYLOAD = json.dumps(
    {
        "ref": "refs/heads/main",
        "before": "3f2c9ab0c1d2e3f4a5b6c7d8e9f0011223344556",
        "after": SHA,
        "repository": {"full_name": "acme/shop", "default_branch": "main"},
        "pusher": {"name": "dana", "email": "dana@example.com"},
        "head_commit": {
            "id": SHA,
            "message": MESSAGE,
            "timestamp": "2026-11-26T10:05:17+00:00",
            "author": {"name": "Dana Developer", "email": "dana@example.com"},
        },
    },
    separators=(",", ":"),
)

# Project 3 (Shop) of team 1: the push to main started deployment 43 of its production
# environment (5), after deployment 42 of the commit before.
DELIVERY = {
    "id": 88,
    "team": 1,
    "project": 3,
    "provider": "github",
    "event": "push",
    "delivery_id": GITHUB_DELIVERY,
    "signature_valid": True,
    "decision": "deployed",
    "reason": f"production: deploying {SHA[:8]}",
    "http_status": 202,
    "ref": "refs/heads/main",
    "commit_sha": SHA,
    "commit_message": MESSAGE,
    "deployments": [43],
    "plan": [
        {"environment_id": 5, "environment": "production", "ref": "refs/heads/main", "sha": SHA}
    ],
    "redelivery_of": None,
    "attempts": 0,
    "next_attempt_at": None,
    "payload_size": len(PAYLOAD.encode()),
    "remote_addr": "192.0.2.44",
    "received_at": "2026-11-26T10:05:21Z",
}

EXAMPLES: dict[str, Any] = {
    "WebhookDelivery": DELIVERY,
    # The headers kept: never the signature (X-Hub-Signature-256) nor a token.
    "WebhookDeliveryDetail": {
        **DELIVERY,
        "headers": {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/8b1b3c4",
            "Content-Length": str(len(PAYLOAD.encode())),
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": GITHUB_DELIVERY,
        },
        "payload": PAYLOAD,
        "payload_truncated": False,
    },
}
