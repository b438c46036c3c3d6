"""Every API error is `application/problem+json` (RFC 9457): type, title, status, detail,
and for invalid fields an `errors` object of field → messages."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://devflow.dev/problems/"


def problem(status: int, detail: str, *, code: str = "", **extra: Any) -> dict[str, Any]:
    title = HTTPStatus(status).phrase
    return {
        "type": TYPE_BASE + (code or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


class Conflict(exceptions.APIException):
    """The object is not in a state that allows this (paused, already resolved…): 409."""

    status_code = 409
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


def refused(error: Exception) -> exceptions.ValidationError:
    """A rule of the services said no: a 400 problem whose message is the service's."""
    return exceptions.ValidationError({"non_field_errors": [str(error)]})


def _detail(data: Any) -> str:
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    if isinstance(data, list) and data:
        return str(data[0])
    return str(data)


def handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException("The request body is too large.")
        exc.status_code = 413
    if isinstance(exc, OverflowError):
        # A number too large for the database (SQLite's 64-bit integers), e.g. `?tags=1e30`
        # as digits: the request is at fault, not the server.
        logger.warning("API request with an out-of-range number: %s", exc)
        exc = exceptions.ValidationError({"non_field_errors": ["A number is out of range."]})
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, Http404 | DjangoPermissionDenied):
            return None
        logger.exception("API error", exc_info=exc)
        body = problem(500, "Something went wrong on our side; it has been logged.")
        return Response(body, status=500, content_type=PROBLEM)
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        body = problem(
            response.status_code, "Some fields are not valid; see errors.",
            code="invalid", errors=errors,
        )  # fmt: skip
    elif isinstance(exc, Http404 | exceptions.NotFound):
        body = problem(404, "Not found (or not yours).", code="not-found")
    else:
        code = getattr(exc, "default_code", "") or ""
        body = problem(response.status_code, _detail(data), code=str(code).replace("_", "-"))
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        body["retry_after"] = int(wait)
    response.data = body
    response.content_type = PROBLEM
    return response


@csrf_exempt  # like the API's views: a POST to an unknown path is a 404, not a CSRF page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer in the API's own error format."""
    return JsonResponse(
        problem(404, f"There is no API endpoint at {request.path}.", code="not-found"),
        status=404,
        content_type=PROBLEM,
    )
