"""The `devflow` client commands against a running DevFlow Pro (pytest-django's live server)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devflow.accounts import api_tokens
from devflow.cli import app
from devflow.servers.models import Server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cli(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DEVFLOW_URL", raising=False)
    monkeypatch.delenv("DEVFLOW_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


def test_login_stores_the_token_privately_and_listings_work(
    cli, live_server, alice, acme, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    Server.objects.create(team=acme, name="web-1", host="10.0.0.5", status="up")
    token = api_tokens.create(alice, "laptop", ["read"]).token

    result = cli("login", live_server.url, "--token", token)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {live_server.url} as alice (scopes: read)" in result.output
    saved = tmp_path / "config" / "devflow" / "config.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["token"] == token

    listing = cli("servers", "ls")
    assert listing.exit_code == 0 and "web-1" in listing.output and "10.0.0.5" in listing.output
    as_json = json.loads(cli("servers", "ls", "--json").output)
    assert [s["name"] for s in as_json] == ["web-1"]


def test_a_wrong_token_is_refused_and_nothing_is_saved(cli, live_server, alice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = cli("login", live_server.url, "--token", "dfp_notavalidtokenatall")
    assert result.exit_code == 1
    assert "unknown, revoked or expired" in result.output
    assert not (tmp_path / "config" / "devflow" / "config.json").exists()


def test_commands_before_login_say_what_to_do(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("servers", "ls")
    assert result.exit_code == 2
    assert "Not logged in: run `devflow login URL` first." in result.output


def test_an_unreachable_server_is_a_clear_error(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import free_port

    monkeypatch.setenv("DEVFLOW_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DEVFLOW_TOKEN", "dfp_x")
    result = cli("servers", "ls")
    assert result.exit_code == 1
    assert "Cannot reach http://127.0.0.1:" in result.output


def test_logout_forgets_the_login(cli, live_server, alice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = api_tokens.create(alice, "laptop", ["read"]).token
    cli("login", live_server.url, "--token", token)
    assert cli("logout").output.strip() == "Logged out."
    assert not Path(tmp_path / "config" / "devflow" / "config.json").exists()
