"""Trace viewer tests: a live receiver on loopback, real Postgres, Debian's Chromium.

The shared receiver fixtures come from ``tests/receiver_fixtures.py``; this file adds the
browser (Playwright driving ``/usr/bin/chromium``, never a downloaded browser), a signed-in
page, and builders that ingest traces through the receiver's OTLP endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from services import require_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by a module's tests.

    Not by the session: Playwright's sync API keeps an event loop running in this thread
    while it is open, and every later test of the process that calls ``asyncio.run`` (or
    starts a loop) would fail with "cannot be called from a running event loop".
    """
    if not os.path.exists(CHROMIUM):
        require_service("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


class PageProblems:
    """What went wrong in the page: console errors, CSP violations, dialogs, page errors."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.page_errors == [], f"uncaught errors in the page: {self.page_errors}"
        csp = [m for m in self.console_errors if "Content Security Policy" in m]
        assert csp == [], f"CSP violations: {csp}"


@pytest.fixture
def page(browser: Any, receiver: Any) -> Iterator[Any]:
    """A fresh browser context (own sessionStorage) at 1280x800 on the receiver."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems = PageProblems()
    tab.on(
        "console",
        lambda message: (
            problems.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    tab.on("pageerror", lambda error: problems.page_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        problems.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.problems = problems
    try:
        yield tab
    finally:
        context.close()
