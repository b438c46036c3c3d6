"""A real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1 for channels to reach."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from devflow.core.jobs import execute_job
from devflow.core.models import Job
from devflow.notifications import services
from tests.conftest import free_port


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    port: int
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint that records every request and answers `receiver.status`."""
    box = Receiver(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            box.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(box.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"ok": box.status < 400}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", box.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def private_acme(acme):  # type: ignore[no-untyped-def]
    """Acme with private addresses allowed: the test services listen on 127.0.0.1."""
    acme.allow_private_egress = True
    acme.save(update_fields=["allow_private_egress"])
    return acme


@pytest.fixture
def no_queue(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("devflow.core.jobs.send_to_queue", lambda job: None)


def run_delivery_jobs() -> list[Job]:
    """Run every queued notification job here, as a worker would."""
    jobs = list(Job.objects.filter(kind="notifications.deliver", status="queued").order_by("pk"))
    for job in jobs:
        execute_job(job.pk)
        job.refresh_from_db()
    return jobs


__all__ = ["run_delivery_jobs", "services"]
