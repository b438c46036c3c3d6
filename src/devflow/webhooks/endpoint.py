"""The public webhook endpoint: no session, no CSRF; the signature is the authentication."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from devflow.core.audit import client_ip
from devflow.webhooks import services


@csrf_exempt
@require_POST
def receive(request: HttpRequest, provider: str, public_id: str) -> HttpResponse:
    declared = request.META.get("CONTENT_LENGTH") or ""
    size = int(declared) if declared.isdigit() else None
    if size is not None and size > services.MAX_BODY_BYTES:
        body = b""  # not read: it is refused by its declared size
    else:
        body = request.read(services.MAX_BODY_BYTES + 1)
        size = len(body)
    answer = services.receive(
        provider, public_id, request.headers, body, remote_addr=client_ip(request), body_size=size
    )
    return JsonResponse(answer.body(), status=answer.status)
