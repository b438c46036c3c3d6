"""The "webhook" kind: a signed JSON POST to a URL of the team's own.

Every request carries `DevFlow-Event`, `DevFlow-Delivery` (the delivery id, the same on
every try, so a receiver can drop duplicates), `DevFlow-Timestamp` (unix seconds) and
`DevFlow-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. Signing the
timestamp with the body lets a receiver refuse an old request replayed by someone who saw
it. Requests go through the guarded client (`egress.client_for_team`), are not redirected,
and wait at most `TIMEOUT` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from devflow.core import egress
from devflow.notifications.notifier import (
    PERMANENT_STATUS,
    Described,
    Notifier,
    NotifyError,
    register,
)

if TYPE_CHECKING:
    from devflow.notifications.models import Channel, Delivery

TIMEOUT = 10.0
# PERMANENT_STATUS (shared with Apprise channels): the endpoint is gone or refuses us. Any
# other answer that is not 2xx or 3xx (5xx, 429, a 400 from a receiver being fixed) is retried.
# A path segment at least this long is probably a token (…/hooks/9f2c…); it is masked.
TOKEN_LENGTH = 16


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `DevFlow-Signature` header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def payload_of(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "event": delivery.event,
        "title": delivery.title,
        "body": delivery.body,
        "link": delivery.link,
        "team": {"id": delivery.team_id, "name": delivery.channel.team.name},
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": delivery.data or {},
    }


def mask(url: str) -> str:
    """`url` with its password, query values and token-like path segments as ****."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}{':****' if parts.password else ''}@{netloc}"
    path = "/".join("****" if len(p) >= TOKEN_LENGTH else p for p in parts.path.split("/"))
    query = urlencode([(k, "****") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, path, query, "")).replace("%2A", "*")


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:200]
    return f": {text}" if text else ""


@register
class WebhookNotifier(Notifier):
    """POST the event as signed JSON to an http(s) URL of the team's own."""

    kind = "webhook"
    label = "Webhook (signed JSON POST)"
    url_label = "Webhook URL"
    url_placeholder = "https://hooks.example.com/devflow"
    url_help = (
        "An https:// (or http://) address of your own that takes a JSON POST. Each request "
        "is signed with a secret shown once, when the channel is made. The URL is stored "
        "encrypted and never shown again."
    )
    signed = True
    retry_delays = (10, 30, 120, 600, 3600)

    def describe(self, url: str) -> Described:
        if not url:
            raise NotifyError("Give the webhook's URL, e.g. https://hooks.example.com/devflow.")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError as error:
            raise NotifyError(f"This is not a URL: {error}.") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise NotifyError("A webhook URL starts with https:// (or http://).")
        if not parts.hostname:
            raise NotifyError("A webhook URL needs a host, e.g. https://hooks.example.com/….")
        if any(c.isspace() for c in url):
            raise NotifyError("A webhook URL has no spaces.")
        return Described(service="Webhook", masked_url=mask(url)[:1000])

    def send(self, channel: Channel, delivery: Delivery) -> None:
        body = json.dumps(payload_of(delivery), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "DevFlow-Event": delivery.event,
            "DevFlow-Delivery": str(delivery.pk),
            "DevFlow-Timestamp": timestamp,
            "DevFlow-Signature": sign(channel.signing_secret, timestamp, body),
        }
        host = urlsplit(channel.url).hostname
        try:
            with egress.client_for_team(channel.team, timeout=TIMEOUT) as http:
                response = http.post(
                    channel.url, content=body, headers=headers, follow_redirects=False
                )
        except egress.EgressRefused as refused:
            raise NotifyError(str(refused), permanent=True) from None
        except httpx.TimeoutException:
            raise NotifyError(f"{host} did not answer within {TIMEOUT:.0f} s.") from None
        except httpx.HTTPError as error:
            raise NotifyError(f"Could not reach {host}: {error or type(error).__name__}.") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        said = f"{host} answered {status} {response.reason_phrase}".rstrip()
        if 300 <= status < 400:
            raise NotifyError(
                f"{said} (a redirect to {response.headers.get('Location', '?')}); signed "
                "requests are not redirected: give the final URL.",
                permanent=True,
            )
        raise NotifyError(said + _excerpt(response), permanent=status in PERMANENT_STATUS)


# Shown on the channel's page and in docs/notifications.md; the tests run both against a
# real delivery, so what we show is what works.
VERIFY_PYTHON = """\
import hashlib, hmac, time

def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    \"\"\"True if DevFlow Pro sent `body` (the raw bytes) in the last 5 minutes.\"\"\"
    timestamp = headers.get("DevFlow-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old (a replay) or no timestamp
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    expected = "v1=" + mac.hexdigest()
    given = headers.get("DevFlow-Signature", "")
    return any(hmac.compare_digest(expected, s.strip()) for s in given.split(","))
"""

VERIFY_NODE = """\
const crypto = require("crypto");

// rawBody: the request body as received (a Buffer), before any JSON parsing.
function verify(secret, headers, rawBody, tolerance = 300) {
  const timestamp = headers["devflow-timestamp"] || "";
  if (!/^\\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) {
    return false; // too old (a replay) or no timestamp
  }
  const mac = crypto.createHmac("sha256", secret);
  mac.update(timestamp + ".");
  mac.update(rawBody);
  const expected = Buffer.from("v1=" + mac.digest("hex"));
  return (headers["devflow-signature"] || "").split(",").some((s) => {
    const given = Buffer.from(s.trim());
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}
"""
