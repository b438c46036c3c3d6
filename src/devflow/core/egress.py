"""The one HTTP client for requests to addresses users give us (notifiers, health checks).

Addresses are checked when the connection is made, after DNS resolution, so a
name that resolves to a forbidden address is refused even if it looked
harmless when saved (DNS rebinding), and every redirect's new connection is
checked again. Link-local and cloud metadata addresses are always refused;
loopback and private ranges only unless the team's owner allowed them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

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
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        except (OSError, ValueError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        # Every address must pass: the system may pick any of them.
        for address in addresses:
            why = refusal(address, allow_private=self.allow_private)
            if why:
                raise EgressRefused(f"Refused {host}: {why}.")
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
            ssl_context=httpx.create_ssl_context(),
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
