"""A server going down or coming back tells the team once per change, not once per check."""

from __future__ import annotations

import pytest

from devflow.notifications import services as notifications
from devflow.notifications.models import Delivery
from devflow.servers import services
from devflow.servers.choices import ServerStatus
from devflow.servers.models import Server

pytestmark = pytest.mark.django_db


def test_down_and_up_are_announced_once_each(acme, alice, sshd_server, make_server) -> None:  # type: ignore[no-untyped-def]
    notifications.create_channel(
        acme, alice, name="ops", url="json://127.0.0.1:9/x",
        events_wanted=["server.down", "server.up"],
    )  # fmt: skip
    server = make_server(sshd_server)

    ok, latency, message, reason = services.check_reachability(server)
    services.record_check(server, ok=ok, latency_ms=latency, message=message, reason=reason)
    assert ok and not Delivery.objects.exists(), "first contact is not news"

    Server.objects.filter(pk=server.pk).update(port=1)  # nothing listens there
    server.refresh_from_db()
    for _ in range(3):
        ok, latency, message, reason = services.check_reachability(server)
        services.record_check(server, ok=ok, latency_ms=latency, message=message, reason=reason)
    assert server.status == ServerStatus.DOWN
    [down] = Delivery.objects.all()
    assert down.event == "server.down"
    assert down.title == f"Server {server.name} is down"
    assert message in down.body
    assert down.link.endswith(f"/servers/{server.pk}/")
    assert down.data == {
        "server": {"id": server.pk, "name": server.name, "host": server.host, "status": "down"},
        "message": message,
    }

    Server.objects.filter(pk=server.pk).update(port=sshd_server.port)
    server.refresh_from_db()
    ok, latency, message, reason = services.check_reachability(server)
    services.record_check(server, ok=ok, latency_ms=latency, message=message, reason=reason)
    assert list(Delivery.objects.order_by("pk").values_list("event", flat=True)) == [
        "server.down",
        "server.up",
    ]
