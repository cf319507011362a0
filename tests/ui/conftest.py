"""Trace viewer tests: a live receiver on loopback, real Postgres, Debian's Chromium.

The shared receiver fixtures come from ``tests/receiver_fixtures.py``; this file adds the
browser (Playwright driving ``/usr/bin/chromium``, never a downloaded browser), a signed-in
page, and builders that ingest traces through the receiver's OTLP endpoint.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load(name: str, path: Path) -> ModuleType:
    """Import a helper module by path (tests run with --import-mode=importlib)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_here = Path(__file__).resolve().parent
receiver_fixtures = _load("receiver_fixtures", _here.parent / "receiver_fixtures.py")
_load("receiver_helpers", _here.parent / "receiver" / "helpers.py")
_load("tests_conftest", _here.parent / "conftest.py")
_load("ui_helpers", _here / "ui_helpers.py")

api_key = receiver_fixtures.api_key
client = receiver_fixtures.client
database_url = receiver_fixtures.database_url
project = receiver_fixtures.project
receiver = receiver_fixtures.receiver
server_url = receiver_fixtures.server_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by the session."""
    if not os.path.exists(CHROMIUM):
        sys.modules["tests_conftest"].require_service(
            "Chromium not installed at /usr/bin/chromium (apt-get install chromium)"
        )
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
