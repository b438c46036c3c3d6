"""`Idempotency-Key` on POSTs that start work: the same key and body answer with the first
answer (and start nothing); the same key with another body is refused (422)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from devflow.api.errors import PROBLEM, problem
from devflow.api.models import IdempotencyKey
from devflow.core.access import me

HEADER = "Idempotency-Key"


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = (request.headers.get(HEADER) or "").strip()
        if not key:
            return handler(view, request, *args, **kwargs)
        if len(key) > 200:
            return Response(
                problem(400, f"{HEADER} is at most 200 characters."), status=400,
                content_type=PROBLEM,
            )  # fmt: skip
        body_hash = hashlib.sha256(request.body).hexdigest()
        user = me(request)
        earlier = IdempotencyKey.objects.filter(user=user, key=key).first()
        if earlier is not None:
            if earlier.body_hash != body_hash or earlier.path != request.path:
                return Response(
                    problem(422, f"This {HEADER} was used with another request; use a new key.",
                            code="idempotency-key-reused"),
                    status=422, content_type=PROBLEM,
                )  # fmt: skip
            replay = Response(earlier.response, status=earlier.status)
            replay["Idempotent-Replayed"] = "true"
            return replay
        response = handler(view, request, *args, **kwargs)
        if response.status_code < 500:
            try:
                with transaction.atomic():
                    IdempotencyKey.objects.create(
                        user=user, key=key, method=request.method or "POST",
                        path=request.path, body_hash=body_hash,
                        status=response.status_code, response=response.data,
                    )  # fmt: skip
            except IntegrityError:
                pass  # a parallel request with the same key stored its answer first
        return response

    # The schema documents the header (and the 422) on the operations that take it.
    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper
