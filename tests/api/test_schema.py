"""The OpenAPI schema generates without a warning and validates against OpenAPI 3."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def test_the_schema_is_valid_and_warning_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "schema.yml"
    errors = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=errors
    )
    schema = target.read_text()
    assert "Warning" not in errors.getvalue(), errors.getvalue()
    for path in ("/api/v1/servers/", "/api/v1/environments/{id}/deploy/", "/api/v1/alerts/"):
        assert f"{path}:" in schema
    assert "bearerFormat: dfp_" in schema


def test_the_docs_pages_load_nothing_from_another_host(client) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI and Redoc come from vendored assets: no CDN, no web fonts."""
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert "/static/drf_spectacular_sidecar/" in page, path
        assert "http://" not in page and "https://" not in page and "//fonts" not in page, page
