"""The public webhook endpoint: no session, no CSRF; the signature is the authentication.

Under ASGI Django runs each request's database work in a thread of its own and
closes its connection afterwards, which costs a new connection per request. The
endpoint is called by machines, in bursts, so its database work runs on a few
long-lived threads that keep their connections (reopened if one breaks).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils.datastructures import CaseInsensitiveMapping
from django.views.decorators.csrf import csrf_exempt

from devflow.core.audit import client_ip
from devflow.webhooks import services

_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        # SQLite takes one writer at a time: more threads would only wait for its lock.
        _executor = ThreadPoolExecutor(
            max_workers=1 if sqlite else 4, thread_name_prefix="webhooks-db"
        )
    return _executor


def close_connections() -> None:
    """Close the threads' kept connections and stop them (tests; a database being dropped)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    count = len(executor._threads)
    if count:
        # Each task waits for the others, so every thread runs exactly one of them.
        barrier = threading.Barrier(count)

        def close() -> None:
            barrier.wait(10)
            connections.close_all()

        for future in [executor.submit(close) for _ in range(count)]:
            future.result(timeout=20)
    executor.shutdown(wait=True)


def _receive(
    provider: str,
    public_id: str,
    headers: Mapping[str, str],
    body: bytes,
    remote_addr: str | None,
    size: int,
) -> services.Answer:
    for attempt in (1, 2):
        try:
            return services.receive(
                provider, public_id, headers, body, remote_addr=remote_addr, body_size=size
            )
        except DatabaseError:
            if attempt == 2 or connection.in_atomic_block or connection.is_usable():
                raise
            connection.close()  # the kept connection broke (database restarted): reopen
    raise AssertionError("unreachable")


@csrf_exempt
async def receive(request: HttpRequest, provider: str, public_id: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    declared = request.META.get("CONTENT_LENGTH") or ""
    size = int(declared) if declared.isdigit() else None
    if size is not None and size > services.MAX_BODY_BYTES:
        body = b""  # not kept: it is refused by its declared size
    else:
        body = request.read(services.MAX_BODY_BYTES + 1)
        size = len(body)
    headers = CaseInsensitiveMapping(dict(request.headers.items()))
    answer = await asyncio.get_running_loop().run_in_executor(
        _threads(), _receive, provider, public_id, headers, body, client_ip(request), size
    )
    return JsonResponse(answer.body(), status=answer.status)
