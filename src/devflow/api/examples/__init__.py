"""Examples for the OpenAPI schema, one realistic object per component, kept per app.

`attach` (a drf-spectacular post-processing hook) sets each component's `example`, so Swagger
UI, Redoc and generated clients show a filled-in body on every operation that reads or answers
it. Only answer shapes (and requests with fields of their own) are written out by hand: a
paginated list is derived from its item, a request (`FooRequest`) from `Foo`'s writable fields,
and a PATCH (`PatchedFooRequest`) from two of them, unless the app gives one.
tests/api/test_schema_examples.py checks that every body of every operation has one and that
each is valid against its schema.
"""

from __future__ import annotations

from typing import Any

from devflow.api.examples import (
    accounts,
    core,
    deployments,
    monitoring,
    notifications,
    projects,
    servers,
    webhooks,
)

WRITTEN: dict[str, Any] = {}
for module in (accounts, core, servers, projects, deployments, webhooks, monitoring, notifications):
    clash = WRITTEN.keys() & module.EXAMPLES.keys()
    assert not clash, f"examples for {sorted(clash)} are given twice"
    WRITTEN.update(module.EXAMPLES)

PAGINATED = ("Paginated", "List")
PATCHED_FIELDS = 2


def derived(name: str, schema: dict[str, Any]) -> Any | None:
    """A paginated list of the item's example, or a request made of the answer's writable fields."""
    prefix, suffix = PAGINATED
    if name.startswith(prefix) and name.endswith(suffix):
        item = WRITTEN.get(name[len(prefix) : -len(suffix)])
        if item is None:
            return None
        return {"count": 1, "next": None, "previous": None, "results": [item]}
    if name.endswith("Request"):
        answer = WRITTEN.get(name.removeprefix("Patched").removesuffix("Request"))
        if not isinstance(answer, dict):
            return None
        writable = schema.get("properties", {})
        body = {key: value for key, value in answer.items() if key in writable}
        if name.startswith("Patched"):
            # A PATCH sends what changes: show two fields, not the whole object.
            body = dict(list((k, v) for k, v in body.items() if k != "team")[:PATCHED_FIELDS])
        return body
    return None


def attach(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if "enum" in schema:
            continue  # the values are the example
        example = WRITTEN[name] if name in WRITTEN else derived(name, schema)
        if example is not None:
            schema["example"] = example
    return result
