"""The notifier contract (STYLE rule 9), the registry of kinds, and the Apprise kind.

A kind is a `Notifier` registered by name (`@register`): "apprise" here, "webhook" in
`webhook.py`. Its configuration is declared as data on the class (what its URL field is
called and expects, whether it signs with a secret, how it retries), and the form, the
API and the pages read that declaration.

`send()` raises `NotifyError(message, permanent)`; a permanent error (the URL is wrong,
the service says the credentials or the channel are gone, the address is refused) will
not heal by retrying, so the channel is disabled with that message as the reason.

Apprise opens its own connections (requests/urllib3, smtplib); `egress.guarded` checks
them like our own HTTP client does. Plugins that would reach the local desktop or speak
raw protocols past that check are refused.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from devflow.core import egress

if TYPE_CHECKING:
    from devflow.notifications.models import Channel, Delivery

# Local desktop and raw-socket services: nothing for a server to send to, or a way around
# the egress check.
REFUSED_SCHEMES = {
    "aprs", "blink1", "dbus", "kde", "qt", "glib", "gio", "gnome", "growl", "irc", "ircs",
    "macosx", "mqtt", "mqtts", "rsyslog", "smpp", "smpps", "syslog", "windows", "xmpp",
    "xmpps",
}  # fmt: skip

# Answers after which retrying is pointless: bad credentials, gone, forbidden.
PERMANENT_STATUS = {401, 403, 404, 410}


class NotifyError(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Described:
    service: str
    masked_url: str


class Notifier:
    """One kind of channel: how its URL is checked and masked, and how a delivery is sent.

    Subclasses declare their configuration as class attributes and implement `describe`
    and `send`; `send` raises `NotifyError` and nothing else.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    url_label: ClassVar[str]
    url_placeholder: ClassVar[str]
    url_help: ClassVar[str]
    # Made by DevFlow Pro, shown once, used to sign every request (webhooks).
    signed: ClassVar[bool] = False
    # Seconds before each next try, spread over time by the scheduler tick (so len + 1 tries
    # in all); empty: the job retries a passing failure itself, a few seconds apart.
    retry_delays: ClassVar[tuple[int, ...]] = ()

    def describe(self, url: str) -> Described:
        """Check `url` and say what it is, with its secrets hidden; raise NotifyError if bad."""
        raise NotImplementedError

    def send(self, channel: Channel, delivery: Delivery) -> None:
        """Send `delivery` through `channel`; raise NotifyError if it did not arrive."""
        raise NotImplementedError


NOTIFIERS: dict[str, Notifier] = {}


def register(cls: type[Notifier]) -> type[Notifier]:
    NOTIFIERS[cls.kind] = cls()
    return cls


def get(kind: str) -> Notifier:
    try:
        return NOTIFIERS[kind]
    except KeyError:
        raise NotifyError(f"Unknown channel kind {kind!r}.", permanent=True) from None


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, notifier.label) for kind, notifier in NOTIFIERS.items()]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _instantiate(url: str) -> Any:
    import apprise

    scheme = _scheme(url)
    if not scheme:
        raise NotifyError("An Apprise URL starts with the service, e.g. slack:// or mailto://.")
    if scheme in REFUSED_SCHEMES:
        raise NotifyError(f"{scheme}:// notifications are not available on a server.", True)
    asset = apprise.AppriseAsset(async_mode=False)
    with apprise.LogCapture(level=logging.WARNING) as log:
        plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
    if plugin is None:
        detail = _last_line(log.getvalue())
        raise NotifyError(
            f"Apprise does not understand this {scheme}:// URL"
            + (f": {detail.rstrip('.')}." if detail else ".")
            + " See https://appriseit.com for each service's URL.",
            permanent=True,
        )
    return plugin


def describe(url: str) -> Described:
    """Check `url` and say what it is, with its secrets hidden (for the page and the log)."""
    plugin = _instantiate(url)
    return Described(
        service=str(getattr(plugin, "service_name", "") or _scheme(url))[:60],
        masked_url=_without_defaults(str(plugin.url(privacy=True)), url)[:1000],
    )


def _without_defaults(masked: str, given: str) -> str:
    """Drop the query options Apprise adds with their defaults; keep the ones the user set."""
    base, _, query = masked.partition("?")
    chosen = {key for key, _ in parse_qsl(urlsplit(given).query)}
    kept = [part for part in query.split("&") if part.split("=", 1)[0] in chosen]
    return base + ("?" + "&".join(kept) if kept else "")


def notify_type(event: str) -> str:
    if event.endswith((".failed", ".down", ".triggered", ".escalated")):
        return "failure"
    if event.endswith((".succeeded", ".up", ".resolved")):
        return "success"
    if event.endswith(".rolled_back"):
        return "warning"
    return "info"


def send(url: str, *, title: str, body: str, allow_private: bool, event: str = "") -> None:
    """Send one message; raise NotifyError with the service's own complaint if it fails."""
    import apprise

    plugin = _instantiate(url)
    with (
        egress.guarded(allow_private=allow_private) as refusals,
        apprise.LogCapture(level=logging.WARNING) as log,
    ):
        try:
            ok = plugin.notify(
                body=body, title=title, notify_type=apprise.NotifyType(notify_type(event))
            )
        except egress.EgressRefused as refused:
            raise NotifyError(str(refused), permanent=True) from None
        except Exception as error:  # a plugin bug must not look like a delivered message
            if refusals:
                raise NotifyError(str(refusals[0]), permanent=True) from None
            raise NotifyError(scrub(f"{type(error).__name__}: {error}", url)) from None
    if ok:
        return
    if refusals:
        raise NotifyError(str(refusals[0]), permanent=True)
    text = scrub(log.getvalue(), url)
    message = _last_line(text) or "The service refused the message (no details given)."
    statuses = {int(code) for code in re.findall(r"error=(\d{3})", text)}
    raise NotifyError(message, permanent=bool(statuses & PERMANENT_STATUS))


def message_of(delivery: Delivery) -> str:
    """The text of a delivery for services that take one message: the body, then the link."""
    return f"{delivery.body}\n\n{delivery.link}" if delivery.link else delivery.body


@register
class AppriseNotifier(Notifier):
    """Any service Apprise knows (e-mail, Slack, Discord, …), each given as one Apprise URL."""

    kind = "apprise"
    label = "Apprise (e-mail, Slack, Discord, …)"
    url_label = "Apprise URL"
    url_placeholder = "slack://T000/B000/XXXX/#ops or mailtos://user:pass@example.com"
    url_help = (
        "Any URL Apprise knows: mailto(s)://, slack://, discord://, tgram://, msteams://, "
        "ntfy(s)://, gotify(s)://, json(s)://… It is stored encrypted and never shown again."
    )

    def describe(self, url: str) -> Described:
        return describe(url)

    def send(self, channel: Channel, delivery: Delivery) -> None:
        send(
            channel.url,
            title=delivery.title,
            body=message_of(delivery),
            allow_private=bool(channel.team.allow_private_egress),
            event=delivery.event,
        )


def _last_line(text: str) -> str:
    lines = [re.sub(r"^[\d\-: ,]+- \w+ - ", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:1000] if lines else ""


def scrub(text: str, url: str) -> str:
    """Hide the parts of `url` that may be secrets (password, tokens) wherever `text` has them."""
    parts = urlsplit(url.replace("#", "%23"))
    tokens = [p for p in parts.path.split("/") if len(p) >= 8 and "." not in p]
    tokens += [v for _, v in parse_qsl(parts.query) if len(v) >= 8 and "@" not in v]
    secrets = [parts.password or "", *tokens]
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "****")
    return text
