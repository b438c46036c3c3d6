"""A small client of /api/v1/: bearer token, problem+json errors turned into one sentence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from devflow.client.config import Login


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} from {response.request.url}"
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    errors = body.get("errors")
    if isinstance(errors, dict):
        detail += " " + "; ".join(
            f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
            for field, msgs in errors.items()
        )
    return detail


class Client:
    def __init__(self, login: Login, timeout: float = 30) -> None:
        self.login = login
        self.http = httpx.Client(
            base_url=login.url + "/api/v1/",
            headers={"Authorization": f"Bearer {login.token}", "User-Agent": "devflow-cli"},
            timeout=timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path.lstrip("/"), **kwargs)
        except httpx.HTTPError as error:
            raise ApiError(f"Cannot reach {self.login.url}: {error}") from None
        if response.status_code >= 400:
            raise ApiError(_message(response), response.status_code)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(
        self, path: str, body: dict[str, Any] | None = None, *, idempotent: bool = False
    ) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else {}
        return self.request("POST", path, json=body or {}, headers=headers)

    def each(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list."""
        page = 1
        while True:
            data = self.get(path, page=page, page_size=200, **params)
            if isinstance(data, list):
                yield from data
                return
            yield from data["results"]
            if not data.get("next"):
                return
            page += 1
