"""The one HTTP client for requests to addresses users give us (notifiers, health checks).

Addresses are checked when the connection is made, after DNS resolution, so a
name that resolves to a forbidden address is refused even if it looked
harmless when saved (DNS rebinding), and every redirect's new connection is
checked again. Link-local and cloud metadata addresses are always refused;
loopback and private ranges only unless the team's owner allowed them.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
PRIVATE = [
    ipaddress.ip_network(net)
    for net in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
]

Resolver = Callable[[str, int], Iterable[str]]


class EgressRefused(httpx.TransportError):
    """The destination is not one DevFlow Pro may connect to; the message says why."""


def refusal(address: IPAddress, *, allow_private: bool) -> str:
    """Why `address` is refused, or "" if it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA:
        return f"{address} is a cloud metadata address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not a routable address"
    if not allow_private:
        if address.is_loopback:
            return f"{address} is this machine (loopback); an owner can allow private addresses"
        if address.is_private or any(address in net for net in PRIVATE):
            return f"{address} is a private address; an owner can allow private addresses"
    return ""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """Resolve `host`; every address must pass, since the system may pick any of them."""
    try:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
    except (OSError, ValueError) as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}")
    for address in addresses:
        why = refusal(address, allow_private=allow_private)
        if why:
            raise EgressRefused(f"Refused {host}: {why}.")
    return addresses


def create_connection(
    host: str,
    port: int,
    timeout: float | None,
    *,
    allow_private: bool,
    resolver: Resolver = system_resolver,
) -> socket.socket:
    """A TCP connection to a checked address of `host` (TCP checks, SMTP, other libraries)."""
    address = checked_addresses(host, port, allow_private=allow_private, resolver=resolver)[0]
    return socket.create_connection((str(address), port), timeout)


def ssl_context() -> ssl.SSLContext:
    """The system's trusted CAs, plus DEVFLOW_CA_BUNDLE (an internal CA) when set."""
    context = httpx.create_ssl_context()
    if settings.DEVFLOW_CA_BUNDLE:
        context.load_verify_locations(cafile=settings.DEVFLOW_CA_BUNDLE)
    return context


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check every address, then connect to the checked address itself."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = checked_addresses(
            host, port, allow_private=self.allow_private, resolver=self.resolver
        )
        return self._backend.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise EgressRefused("Unix sockets are not allowed.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context(),
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise EgressRefused(f"Only http and https are allowed, not {request.url.scheme}.")
        try:
            return super().handle_request(request)
        except EgressRefused:
            raise
        except httpx.TransportError as error:
            # httpcore wraps what the backend raised; keep our refusal's own message.
            cause = error.__context__
            if isinstance(cause, EgressRefused):
                raise cause from None
            raise


def client(
    *, allow_private: bool = False, timeout: float = 10, resolver: Resolver = system_resolver
) -> httpx.Client:
    """An httpx client that follows redirects, each one checked again."""
    return httpx.Client(
        transport=GuardedTransport(allow_private=allow_private, resolver=resolver),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": "DevFlow-Pro"},
    )


def client_for_team(team: Any, *, timeout: float = 10) -> httpx.Client:
    """The guarded client with the team owner's choice about private addresses."""
    return client(allow_private=bool(getattr(team, "allow_private_egress", False)), timeout=timeout)


# Libraries that open their own sockets (Apprise's requests/urllib3, smtplib) --------------

_policy: contextvars.ContextVar[bool | None] = contextvars.ContextVar("egress_policy", default=None)
_refusals: contextvars.ContextVar[list[EgressRefused]] = contextvars.ContextVar("egress_refusals")


@contextlib.contextmanager
def guarded(*, allow_private: bool) -> Iterator[list[EgressRefused]]:
    """Within this block, on this thread, urllib3 and smtplib connections are checked too.

    Yields the refusals made inside, since the libraries turn them into vaguer errors.
    """
    _install()
    refusals: list[EgressRefused] = []
    token = _policy.set(allow_private)
    refusals_token = _refusals.set(refusals)
    try:
        yield refusals
    finally:
        _policy.reset(token)
        _refusals.reset(refusals_token)


def _checked_for_library(host: str, port: int, allow_private: bool) -> str:
    try:
        return str(checked_addresses(host, port, allow_private=allow_private)[0])
    except EgressRefused as refused:
        _refusals.get([]).append(refused)
        raise


_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    import smtplib

    import urllib3.util.connection as urllib3_connection

    original_urllib3 = urllib3_connection.create_connection
    original_smtp = smtplib.SMTP._get_socket  # type: ignore[attr-defined]

    def urllib3_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        allow_private = _policy.get()
        if allow_private is None:
            return original_urllib3(address, *args, **kwargs)
        host, port = address
        return original_urllib3(
            (_checked_for_library(host, port, allow_private), port), *args, **kwargs
        )

    def smtp_get_socket(self: smtplib.SMTP, host: str, port: int, timeout: float) -> Any:
        allow_private = _policy.get()
        if allow_private is None:
            return original_smtp(self, host, port, timeout)
        return original_smtp(self, _checked_for_library(host, port, allow_private), port, timeout)

    urllib3_connection.create_connection = urllib3_create_connection
    smtplib.SMTP._get_socket = smtp_get_socket  # type: ignore[attr-defined]
    _installed = True
