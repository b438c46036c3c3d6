"""The outbound HTTP guard: metadata and link-local always refused, private ranges on request,
checked after DNS resolution and again on every redirect."""

from __future__ import annotations

import http.server
import ipaddress
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devflow.core import egress
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("address", "allowed_private", "refused"),
    [
        ("169.254.169.254", True, "cloud metadata"),
        ("fd00:ec2::254", True, "cloud metadata"),
        ("100.100.100.200", True, "cloud metadata"),
        ("169.254.10.1", True, "link-local"),
        ("fe80::1", True, "link-local"),
        ("::ffff:169.254.169.254", True, "cloud metadata"),
        ("0.0.0.0", True, "not a routable"),
        ("127.0.0.1", False, "loopback"),
        ("10.1.2.3", False, "private"),
        ("192.168.1.1", False, "private"),
        ("100.64.0.1", False, "private"),
        ("fd12::1", False, "private"),
        ("127.0.0.1", True, ""),
        ("10.1.2.3", True, ""),
        ("93.184.215.14", False, ""),
    ],
)
def test_which_addresses_are_refused(address: str, allowed_private: bool, refused: str) -> None:
    why = egress.refusal(ipaddress.ip_address(address), allow_private=allowed_private)
    assert (refused in why) if refused else why == ""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_loopback_is_refused_unless_allowed(local_http: str) -> None:
    with egress.client() as guarded, pytest.raises(egress.EgressRefused, match="loopback"):
        guarded.get(local_http)
    with egress.client(allow_private=True) as allowed:
        assert allowed.get(local_http).text == "hello"


def test_a_redirect_to_the_metadata_address_is_refused(local_http: str) -> None:
    target = "http://169.254.169.254/latest/meta-data/"
    with (
        egress.client(allow_private=True) as allowed,
        pytest.raises(egress.EgressRefused, match=re.escape("169.254.169.254 is a cloud metadata")),
    ):
        allowed.get(f"{local_http}/redirect?to={target}")


def test_only_http_and_https() -> None:
    transport = egress.GuardedTransport(allow_private=False)
    with pytest.raises(egress.EgressRefused, match="not file"):
        transport.handle_request(httpx.Request("GET", "file:///etc/passwd"))


@pytest.fixture
def hosts_entries() -> Iterator[None]:
    """Names that resolve to a metadata address and to this machine, through /etc/hosts."""
    hosts = Path("/etc/hosts")
    saved = Path("/tmp/devflow-hosts.backup")
    shutil.copyfile(hosts, saved)
    with hosts.open("a") as file:
        file.write("\n169.254.169.254 metadata.devflow-egress.test\n")
        file.write("127.0.0.1 innocent.devflow-egress.test\n")
    try:
        yield
    finally:
        shutil.copyfile(saved, hosts)
        saved.unlink()


@pytest.mark.services
def test_names_are_checked_after_resolution(hosts_entries: None, local_http: str) -> None:
    port = local_http.rsplit(":", 1)[1]
    with egress.client(allow_private=True) as allowed:
        refused = re.escape("Refused metadata.devflow-egress.test: 169.254.169.254")
        with pytest.raises(egress.EgressRefused, match=refused):
            allowed.get("http://metadata.devflow-egress.test/")
        assert allowed.get(f"http://innocent.devflow-egress.test:{port}/").text == "hello"
    with egress.client() as guarded, pytest.raises(egress.EgressRefused, match="loopback"):
        guarded.get(f"http://innocent.devflow-egress.test:{port}/")


@pytest.mark.services
def test_libraries_with_their_own_sockets_are_checked_too(  # type: ignore[no-untyped-def]
    hosts_entries: None, local_http: str
) -> None:
    """Apprise talks through requests/urllib3 and smtplib; inside `guarded` they are checked."""
    import smtplib

    import requests

    port = local_http.rsplit(":", 1)[1]
    with egress.guarded(allow_private=True) as refusals:
        with pytest.raises(
            egress.EgressRefused, match=re.escape("169.254.169.254 is a cloud metadata")
        ):
            requests.get("http://metadata.devflow-egress.test/", timeout=5)
        assert (
            requests.get(f"http://innocent.devflow-egress.test:{port}/", timeout=5).text == "hello"
        )
        with pytest.raises(egress.EgressRefused, match="cloud metadata"):
            smtplib.SMTP("metadata.devflow-egress.test", 25, timeout=5)
    assert len(refusals) == 2
    with egress.guarded(allow_private=False), pytest.raises(egress.EgressRefused, match="loopback"):
        requests.get(f"http://innocent.devflow-egress.test:{port}/", timeout=5)
    # Outside the block the libraries are untouched.
    assert requests.get(f"{local_http}/", timeout=5).text == "hello"
