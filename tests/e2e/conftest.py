"""Headless Chromium for the end-to-end tests: one browser per session, one context per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from devflow.accounts import services
from devflow.accounts.models import User
from tests.conftest import PASSWORD, REPO

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
# The real binary starts several times faster than Debian's wrapper script.
CHROMIUM = next(
    (path for path in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(path)),
    None,
)
ARTIFACTS = REPO / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (/usr/lib/chromium/chromium or /usr/bin/chromium).")
    # Playwright's sync API runs an event loop in this thread while the browser is open;
    # the ORM (test data, database set-up and flushes) must still work here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()


@pytest.fixture
def new_context(browser: Browser, live_server) -> Iterator[Callable[..., BrowserContext]]:  # type: ignore[no-untyped-def]
    """Open fresh browser contexts (own cookies and storage) against the live server."""
    opened: list[BrowserContext] = []

    def open_context(
        viewport: dict[str, int] | None = None, theme: str = "light", user: User | None = None
    ) -> BrowserContext:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
            color_scheme=theme,  # type: ignore[arg-type]
        )
        context.set_default_timeout(10_000)
        # The starting theme; a later toggle (◐) is kept, as in a real browser.
        context.add_init_script(
            "if (!localStorage.getItem('devflow-theme')) "
            f"localStorage.setItem('devflow-theme', '{theme}')"
        )
        if user is not None:
            sign_in(context, live_server.url, user)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context) -> Page:  # type: ignore[no-untyped-def]
    return new_context().new_page()


@pytest.fixture
def installed(transactional_db) -> User:  # type: ignore[no-untyped-def]
    """The first admin exists, so /login/ no longer sends people to /setup/."""
    return services.create_user(
        username="admin", email="admin@example.com", password=PASSWORD, superuser=True
    )


def sign_in(context: BrowserContext, base_url: str, user: User) -> None:
    """Give the context a signed-in session cookie (the login form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": base_url, "httpOnly": True}]
    )


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
