"""The contract every webhook provider implements, and the registry of providers.

A receiver reads headers and the raw body; it never touches the database. The
service decides what to do with what the receiver understood.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Push:
    """One ref moved to one commit."""

    ref: str
    sha: str
    message: str = ""
    author: str = ""

    @property
    def deleted(self) -> bool:
        return not self.sha or self.sha == ZERO_SHA

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else ""

    @property
    def tag(self) -> str:
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else ""


@dataclass
class Event:
    """What a request means: a ping, pushes, or something we do not act on."""

    kind: str  # "ping", "push" or "other"
    name: str
    pushes: list[Push] = field(default_factory=list)


class PayloadError(ValueError):
    """The body is not what this provider sends; the message says what is wrong."""


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header_value: str, prefix: str = "sha256=") -> bool:
    """Compare "sha256=<hex>" with the body's HMAC in constant time."""
    if not header_value.startswith(prefix):
        return False
    expected = prefix + hmac_sha256(secret, body)
    return hmac.compare_digest(expected.encode(), header_value.strip().encode())


class Receiver:
    """One provider. Subclasses set the class attributes and implement the three methods."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    event_header: ClassVar[str] = ""
    delivery_header: ClassVar[str] = ""
    signature_header: ClassVar[str] = ""
    setup: ClassVar[str] = ""  # what the settings page tells the user to do

    def event_name(self, headers: Mapping[str, str]) -> str:
        return headers.get(self.event_header, "")[:60]

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        return headers.get(self.delivery_header, "")[:100]

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> tuple[bool, str]:
        """Return (valid, reason) for the request's signature or token."""
        raise NotImplementedError

    def parse(self, event: str, payload: Any) -> Event:
        """Turn the JSON body into an Event; raise PayloadError if it is malformed."""
        raise NotImplementedError


RECEIVERS: dict[str, Receiver] = {}


def register(receiver_class: type[Receiver]) -> type[Receiver]:
    RECEIVERS[receiver_class.name] = receiver_class()
    return receiver_class


def require(payload: Any, *keys: str) -> Any:
    """payload[k1][k2]...; a PayloadError naming the missing key."""
    value = payload
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise PayloadError(f"the body has no {'.'.join(keys)!s}")
        value = value[key]
    return value


def text(value: Any, limit: int = 500) -> str:
    return str(value or "").strip().splitlines()[0][:limit] if value else ""
