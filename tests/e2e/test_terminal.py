"""The web terminal in Chromium, served by a real ASGI server (live_server cannot do WebSockets)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from devflow.accounts.models import User
from devflow.servers import keys, services
from devflow.servers.models import Server
from tests.conftest import REPO, database_url_for_subprocess, free_port, wait_for
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def asgi_server(transactional_db, settings, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`devflow web` (uvicorn) in a subprocess, on this test's database and keys."""
    port = free_port()
    env = {
        **os.environ,
        "DEVFLOW_DATA_DIR": str(settings.DATA_DIR),  # same Django secret: sessions carry over
        "DATABASE_URL": database_url_for_subprocess(),
        "DEVFLOW_SECRET_KEY_FILE": str(settings.DEVFLOW_SECRET_KEY_FILE),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devflow", "web", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"devflow web exited:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        wait_for(listening, 30, "devflow web")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        print(Path(log_path).read_text(errors="replace"))  # shown only when the test fails


@pytest.fixture
def web1(transactional_db, alice, acme, shared_sshd) -> Server:  # type: ignore[no-untyped-def]
    key = keys.import_key(alice, acme, "deploy key", shared_sshd.client_key.read_text())
    server = Server.objects.create(
        team=acme,
        name="web-1",
        host=shared_sshd.host,
        port=shared_sshd.port,
        username=shared_sshd.username,
        ssh_key=key,
    )
    services.pin_host_key(server, shared_sshd.host_public_key)
    return server


def open_terminal(
    browser: Browser, base_url: str, user: User, server: Server, viewport: dict[str, int]
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    context.add_init_script("localStorage.setItem('devflow-theme', 'light')")
    sign_in(context, base_url, user)
    page = context.new_page()
    page.goto(f"/servers/{server.pk}/")
    page.get_by_role("link", name="Terminal").click()
    expect(page).to_have_url(re.compile(rf"/servers/{server.pk}/terminal/$"))
    return context, page


def wait_for_prompt(page: Page) -> None:
    wait_for(lambda: any(re.search(r"[#$]$", row) for row in screen_rows(page)), 15, "a prompt")


def type_line(page: Page, line: str) -> None:
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(line)
    page.keyboard.press("Enter")


def screen_rows(page: Page) -> list[str]:
    return [
        row.replace("\xa0", " ").rstrip()
        for row in page.locator(".xterm-rows > div").all_inner_texts()
    ]


def test_type_a_command_in_the_browser_and_see_its_output(browser, asgi_server, alice, web1):
    context, page = open_terminal(browser, asgi_server, alice, web1, DESKTOP)
    status = page.get_by_test_id("terminal-status")
    expect(status).to_have_text(f"Connected to web-1 ({web1.host_key_fingerprint})")
    reconnect = page.get_by_role("button", name="Reconnect")
    expect(reconnect).to_be_hidden()
    wait_for_prompt(page)
    type_line(page, "echo hello-terminal")
    # The command line echoes the text too; the output is a row of its own.
    wait_for(lambda: "hello-terminal" in screen_rows(page), 15, "the command's output")
    type_line(page, "tput cols; tput lines")
    wait_for(lambda: any(re.fullmatch(r"\d{3}", row) for row in screen_rows(page)), 15, "tput")
    screenshot(page, "terminal-1280-light")

    type_line(page, "exit")
    expect(status).to_have_text("Disconnected: the shell exited")
    expect(reconnect).to_be_visible()
    screenshot(page, "terminal-1280-disconnected")
    reconnect.click()
    expect(status).to_have_text(f"Connected to web-1 ({web1.host_key_fingerprint})")
    expect(reconnect).to_be_hidden()
    context.close()


def test_the_terminal_fits_a_phone(browser, asgi_server, alice, web1):
    context, page = open_terminal(browser, asgi_server, alice, web1, PHONE)
    expect(page.get_by_test_id("terminal-status")).to_contain_text("Connected to web-1")
    wait_for_prompt(page)
    type_line(page, "echo $COLUMNS-wide")
    wait_for(lambda: any(re.fullmatch(r"\d+-wide", row) for row in screen_rows(page)), 15, "cols")
    columns = next(int(row[:-5]) for row in screen_rows(page) if re.fullmatch(r"\d+-wide", row))
    assert 30 <= columns <= 50  # fitted to 375 px, not the default 80
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways"
    screenshot(page, "terminal-375-light")
    context.close()
