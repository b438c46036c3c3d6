"""How the OpenAPI schema describes our bearer tokens, and the errors every operation may give.

`ProblemAutoSchema` adds to each operation the `application/problem+json` answers it can give
besides its own (see `devflow.api.errors`): 401 and 403 everywhere (every view needs a user,
and a token's scopes or the user's role may refuse), 429 everywhere (rates per token and per
address), 404 where a path names an object or a list is paged, 400 where a body or a query is
read, 413 where a body is read, and 422 with an `Idempotency-Key` header where a POST takes one.
A status a view documents itself without a body (`409: None`) gets the problem body too.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from devflow.api.errors import PROBLEM


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "devflow.api.authentication.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "dfp_…",
            "description": "A personal access token from Profile → API tokens.",
        }


# An error, as RFC 9457 describes it (inline: `errors` would shadow Serializer.errors).
PROBLEM_SERIALIZER = inline_serializer(
    "Problem",
    {
        "type": serializers.URLField(help_text="A URL naming the kind of problem."),
        "title": serializers.CharField(help_text="The HTTP status's phrase."),
        "status": serializers.IntegerField(help_text="The HTTP status code."),
        "detail": serializers.CharField(help_text="What went wrong, for people."),
        "errors": serializers.DictField(
            required=False,
            help_text="400 only: each invalid field (non_field_errors: the request as a whole) "
            "and its messages.",
        ),
        "retry_after": serializers.IntegerField(
            required=False, help_text="429 only: seconds to wait before trying again."
        ),
    },
)


ERRORS = {
    "400": "The request is not valid; `errors` says which fields and why.",
    "401": "No credentials, or a token that is unknown, revoked or expired.",
    "403": "The token lacks the scope, or your role in the team does not allow this.",
    "404": "Not found (or not yours).",
    "409": "The object is not in a state that allows this.",
    "413": "The request body is too large.",
    "422": "This Idempotency-Key was used with another request.",
    "429": "Too many requests; `retry_after` says how long to wait.",
}


def _problem(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://devflow.dev/problems/{code}", "title": HTTPStatus(status).phrase,
        "status": status, "detail": detail, **extra,
    }  # fmt: skip


# What each error answer looks like (docs/api.md, "Errors"), shown with every operation.
PROBLEM_EXAMPLES = {
    "400": _problem(400, "invalid", "Some fields are not valid; see errors.",
                    errors={"name": ["This field may not be blank."]}),
    "401": _problem(401, "authentication-failed", "The token is unknown, revoked or expired. "
                    "Make a new one under Profile → API tokens."),
    "403": _problem(403, "permission-denied",
                    "This token lacks the “write” scope needed to edit here."),
    "404": _problem(404, "not-found", "Not found (or not yours)."),
    "409": _problem(409, "conflict", "The object is not in a state that allows this."),
    "413": _problem(413, "error", "The request body is too large."),
    "422": _problem(422, "idempotency-key-reused",
                    "This Idempotency-Key was used with another request; use a new key."),
    "429": _problem(429, "throttled", "Request was throttled. Expected available in 42 "
                    "seconds.", retry_after=42),
}  # fmt: skip


IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "Send the same key again to get the first answer instead of a second "
    "start; the same key with another body is a 422.",
}


# A title for operations whose view method says nothing of its own (DRF's generic ones).
GENERIC_SUMMARIES = {
    "list": "List {plural}",
    "retrieve": "Show one {singular}",
    "create": "Add a {singular}",
    "update": "Replace a {singular}",
    "partial_update": "Change a {singular}",
    "destroy": "Delete a {singular}",
}


def _readable(name: str) -> str:
    name = re.sub(r"\bssh\b", "SSH", re.sub(r"\bapi\b", "API", name))
    return re.sub(r"(?<=[^aeiou])ys$", "ies", name)


class ProblemAutoSchema(AutoSchema):
    def get_summary(self) -> str | None:
        """The operation's title in Swagger UI and Redoc: its own docstring's first sentence,
        or "List servers" / "Add a server" ... for DRF's generic actions."""
        explicit = super().get_summary()
        if explicit:
            return explicit
        name = getattr(self.view, "action", None) or self.method.lower()
        own = get_doc(getattr(self.view, name, None)).split("\n")[0]
        described = self.get_description()  # an extend_schema(description=...) of its own
        if not own and described and described != get_doc(self.view.__class__):
            own = described.split("\n")[0]
        if own:
            first = re.split(r"(?<!e\.g)\. |; |: ", own)[0].rstrip(".")
            return re.sub(r"\s*\(\d{3}\)$", "", first)
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        if name not in GENERIC_SUMMARIES or model is None:
            return None
        singular, plural = (_readable(str(n)) for n in (
            model._meta.verbose_name, model._meta.verbose_name_plural))  # fmt: skip
        summary = GENERIC_SUMMARIES[name].format(singular=singular, plural=plural)
        return re.sub(r"\ba ([aeiou]|SSH)", r"an \1", summary, flags=re.IGNORECASE)

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        parameters = operation.setdefault("parameters", [])
        query = [p for p in parameters if p.get("in") == "query"]
        codes = {"401", "403", "429"}
        if "requestBody" in operation or self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.add("400")
        if "requestBody" in operation:
            codes.add("413")
        if query:
            codes.add("400")
        if any(p.get("in") == "path" for p in parameters) or any(
            p.get("name") == "page" for p in query
        ):
            codes.add("404")
        if self._is_idempotent():
            codes.add("422")
            parameters.append(dict(IDEMPOTENCY_HEADER))
        if not parameters:
            del operation["parameters"]
        responses = operation["responses"]
        codes |= {code for code, response in responses.items() if code in ERRORS}
        problem = self.resolve_serializer(PROBLEM_SERIALIZER, "response").ref
        for code in sorted(codes):
            if responses.get(code, {}).get("content"):
                continue  # the view documents its own body for this status
            description = responses.get(code, {}).get("description") or ERRORS[code]
            example = {"value": PROBLEM_EXAMPLES[code], "summary": ERRORS[code]}
            responses[code] = {
                "content": {PROBLEM: {"schema": problem, "examples": {"Problem": example}}},
                "description": description,
            }
        return operation

    def _is_idempotent(self) -> bool:
        if self.method != "POST":
            return False
        name = getattr(self.view, "action", None) or self.method.lower()
        handler = getattr(self.view, name, None)
        return bool(getattr(handler, "idempotent", False))


class OneObjectSchema(ProblemAutoSchema):
    """For a view set whose `list` answers one object, not a list (GET /me/)."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


def strict_request_bodies(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Request bodies say `additionalProperties: false`: every API serializer refuses a field it
    does not know (`StrictSerializer`), and clients and fuzzers should know it up front."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    return result
