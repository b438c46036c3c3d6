"""An owner decides whether the team's outbound requests may reach private addresses."""

from __future__ import annotations

import http.server
import threading

import pytest
from django.test import Client

from devflow.accounts.models import Team
from devflow.core import egress
from devflow.core.models import ActivityLog
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def test_only_an_owner_allows_private_addresses(alice_client, acme, bob, charlie) -> None:  # type: ignore[no-untyped-def]
    page = alice_client.get(f"/teams/{acme.pk}/").content.decode()
    assert "Private addresses" in page and "Not allowed" in page
    url = f"/teams/{acme.pk}/private-egress/"
    response = alice_client.post(url, {"allowed": "1"}, follow=True)
    assert "may now reach private addresses" in response.content.decode()
    assert Team.objects.get(pk=acme.pk).allow_private_egress is True
    assert ActivityLog.objects.filter(action="team.private_egress_allowed", team=acme).exists()

    bob_client = Client()
    bob_client.force_login(bob)
    refused = bob_client.post(url, {"allowed": "0"}, follow=True).content.decode()
    assert "Only an owner of the team may do that." in refused
    assert Team.objects.get(pk=acme.pk).allow_private_egress is True

    charlie_client = Client()
    charlie_client.force_login(charlie)
    assert charlie_client.post(url, {"allowed": "0"}).status_code == 404

    alice_client.post(url, {"allowed": "0"})
    assert Team.objects.get(pk=acme.pk).allow_private_egress is False


def test_the_teams_choice_reaches_the_http_client(acme) -> None:  # type: ignore[no-untyped-def]
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with egress.client_for_team(acme) as guarded, pytest.raises(egress.EgressRefused):
            guarded.get(url)
        acme.allow_private_egress = True
        with egress.client_for_team(acme) as allowed:
            assert allowed.get(url).text == "hi"
    finally:
        server.shutdown()
