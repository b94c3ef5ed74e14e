"""Real-browser fixtures: Playwright driving Debian's Chromium at a phone-sized viewport.

With CI=true a missing /usr/bin/chromium fails the test (a silently skipped browser test would
hide a broken CI image); elsewhere it skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}  # a common phone in CSS pixels
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": PHONE_VIEWPORT}


@pytest.fixture(autouse=True)
def _close_connections_after_each_request():
    """The live server answers each request in a new thread with its own connection; with
    CONN_MAX_AGE > 0 (the PostgreSQL default here) those would outlive the test and block
    dropping the test database. 0 closes each at the end of its request."""
    from django.db import connections

    saved = connections.settings["default"].get("CONN_MAX_AGE", 0)
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield
    connections.settings["default"]["CONN_MAX_AGE"] = saved


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium package to run browser tests"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def launched_chromium(monkeypatch) -> Iterator:
    """One Chromium for one test (every browser fixture launches through here)."""
    _require_chromium()
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still synchronous, so Django's async-safety guard must stand down here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Django keeps connections in context-local storage; the code running under Playwright's
    # loop sees a fresh context and opens its own. Close them on both sides of the browser's
    # life so none is left open to block dropping the test database.
    connections.close_all()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()
    connections.close_all()


@pytest.fixture
def phone_page(monkeypatch):
    with launched_chromium(monkeypatch) as chromium:
        context = chromium.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True, device_scale_factor=2)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()


@pytest.fixture
def browser(monkeypatch):
    """One Chromium per test; `_page(browser, "laptop" | "phone")` opens a page at that size."""
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


def _page(browser, viewport: str):
    phone = viewport == "phone"
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(page, live_server, username: str, password: str) -> None:
    """The console's login form, as a person fills it; lands on the console's front page."""
    from django.urls import reverse

    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")
