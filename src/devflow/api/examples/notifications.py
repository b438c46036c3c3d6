"""OpenAPI examples for the notifications app's components (see devflow.api.examples).

Team 1 sends to two channels: channel 5 e-mails ops through Apprise, channel 6 posts signed
JSON to the on-call system. URLs are never read back (only `masked_url`, as Apprise or the
webhook masks them), and a webhook's signing secret only in the answer that made it.
"""

from __future__ import annotations

from typing import Any

from devflow.notifications.events import DEFAULT_EVENTS

EXAMPLES: dict[str, Any] = {
    "Channel": {
        "id": 5,
        "team": 1,
        "name": "ops e-mail",
        "kind": "apprise",
        "service": "E-Mail",
        "masked_url": "mailto://ops@example.com/",
        "events": list(DEFAULT_EVENTS),
        "enabled": True,
        "disabled_reason": "",
        "disabled_at": None,
        "last_sent_at": "2026-11-26T06:48:02Z",
        "created_at": "2026-11-02T14:20:47Z",
    },
    # The URL is sent, never answered: a change that leaves it out keeps it.
    "ChannelRequest": {
        "team": 1,
        "name": "ops e-mail",
        "kind": "apprise",
        "url": "mailto://ops@example.com",
        "events": list(DEFAULT_EVENTS),
    },
    "ChannelWithSecret": {
        "id": 6,
        "team": 1,
        "name": "on-call webhook",
        "kind": "webhook",
        "service": "Webhook",
        "masked_url": "https://hooks.example.com/devflow/****",
        "events": ["deployment.failed", "alert.escalated", "health.down"],
        "enabled": True,
        "disabled_reason": "",
        "disabled_at": None,
        "last_sent_at": None,
        "created_at": "2026-11-26T11:02:15Z",
        "signing_secret": "qYbj3giTWbHue65WC2PXom6sCdIv-1QN0fR9eMqCYX8",
    },
    "Delivery": {
        "id": 311,
        "team": 1,
        "channel": 5,
        "channel_name": "ops e-mail",
        "event": "alert.triggered",
        "event_label": "Alert triggered",
        "title": "Alert: Disk full on web-1",
        "body": "web-1: Disk is 93.2 % (Disk > 90 % for 5 min)",
        "link": "https://devflow.example.com/monitoring/alerts/42/",
        "is_test": False,
        "status": "sent",
        "attempts": 1,
        "error": "",
        "permanent": False,
        "created_at": "2026-11-26T06:12:00Z",
        "sent_at": "2026-11-26T06:12:02Z",
        "next_attempt_at": None,
    },
}
