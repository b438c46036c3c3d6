"""Every body in the OpenAPI schema comes with an example, and every example is valid.

A body is a request body or a 2xx JSON answer of any operation; its example is the component's
`example` (devflow.api.examples) or the operation's own `examples`. Each example is checked
against its schema as a JSON Schema validator reads it (OpenAPI 3.0's `nullable` becomes a
`null` type), formats included, so the docs never show a body the API would refuse or never
send.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator

SUCCESS = ("200", "201", "202")


@pytest.fixture(scope="module")
def openapi(django_db_blocker) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def as_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: as_json_schema(value) for key, value in node.items() if key not in ("example",)
    }
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def bodies(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, media type object) for every request body and 2xx JSON answer."""
    found = []
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if media_type == "application/json":
                    found.append((f"{where} request", media))
            for code, answer in operation["responses"].items():
                for media_type, media in answer.get("content", {}).items():
                    if code in SUCCESS and media_type == "application/json":
                        found.append((f"{where} {code}", media))
    return found


def examples_of(media: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    own = [example["value"] for example in media.get("examples", {}).values()]
    schema = media["schema"]
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    elif schema.get("type") == "array" and "$ref" in schema.get("items", {}):
        item = components[schema["items"]["$ref"].rsplit("/", 1)[1]]
        if "example" in item:
            own.append([item["example"]])
    if "example" in schema:
        own.append(schema["example"])
    return own


def validator(schema: dict[str, Any], openapi: dict[str, Any]) -> Draft202012Validator:
    root = as_json_schema(copy.deepcopy(schema))
    root["components"] = as_json_schema(copy.deepcopy(openapi["components"]))
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_body_of_every_operation_has_an_example(openapi) -> None:  # type: ignore[no-untyped-def]
    components = openapi["components"]["schemas"]
    missing = [where for where, media in bodies(openapi) if not examples_of(media, components)]
    assert not missing, "no example for:\n" + "\n".join(missing)


def test_every_component_example_is_valid(openapi) -> None:  # type: ignore[no-untyped-def]
    components = openapi["components"]["schemas"]
    invalid = []
    for name, schema in components.items():
        if "example" not in schema:
            continue
        check = validator({"$ref": f"#/components/schemas/{name}"}, openapi)
        invalid += [f"{name}: {error.json_path}: {error.message}"
                    for error in check.iter_errors(schema["example"])]  # fmt: skip
    assert not invalid, "\n".join(invalid)


def test_every_operation_example_is_valid(openapi) -> None:  # type: ignore[no-untyped-def]
    invalid = []
    for where, media in bodies(openapi):
        check = validator(media["schema"], openapi)
        for label, example in media.get("examples", {}).items():
            invalid += [f"{where} ({label}): {error.json_path}: {error.message}"
                        for error in check.iter_errors(example["value"])]  # fmt: skip
    assert not invalid, "\n".join(invalid)


def test_every_written_example_names_a_component(openapi) -> None:  # type: ignore[no-untyped-def]
    from devflow.api.examples import WRITTEN

    stale = sorted(WRITTEN.keys() - openapi["components"]["schemas"].keys())
    assert not stale, f"examples for components the schema no longer has: {stale}"


def test_every_operation_has_a_title_and_a_description(openapi) -> None:  # type: ignore[no-untyped-def]
    """What Swagger UI and Redoc list: a title ("Add a server", "Deploy the environment")
    and a description, never the bare operationId."""
    untitled = [
        f"{method.upper()} {path}"
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
        if not operation.get("summary") or not operation.get("description")
    ]
    assert not untitled, untitled
    summaries = {
        (method, path): operation["summary"]
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
    }
    assert summaries[("post", "/api/v1/ssh-keys/")] == "Add an SSH key"
    assert summaries[("delete", "/api/v1/teams/{id}/members/{member_id}/")] == "Remove a member"


def test_every_error_answer_shows_a_valid_problem(openapi) -> None:  # type: ignore[no-untyped-def]
    """The 4xx answers show what the API really sends (docs/api.md, "Errors"), not a bare
    `"type": "string"` skeleton."""
    missing, invalid = [], []
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            for code, answer in operation["responses"].items():
                media = answer.get("content", {}).get("application/problem+json")
                if media is None:
                    continue
                where = f"{method.upper()} {path} {code}"
                examples = [example["value"] for example in media.get("examples", {}).values()]
                if not examples:
                    missing.append(where)
                check = validator(media["schema"], openapi)
                for value in examples:
                    if value["status"] != int(code):
                        invalid.append(f"{where}: status {value['status']}")
                    invalid += [f"{where}: {error.message}" for error in check.iter_errors(value)]
    assert not missing, missing
    assert not invalid, invalid
