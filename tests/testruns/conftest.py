"""Fixtures for ``tests/testruns``: the shared receiver fixtures, endpoint apps, a raw peer.

Endpoint applications run in subprocesses (``endpoint_app.py``): each sets up its own global
OpenTelemetry provider with ``configure()``, which a test process could do only once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import receiver_fixtures
from socket_helpers import open_socket, register

_here = Path(__file__).resolve().parent


APP = _here / "endpoint_app.py"


class EndpointApp:
    """A running ``endpoint_app.py`` subprocess."""

    def __init__(self, url: str, key: str, environment: str | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(APP), url, key, environment or ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OTEL_BSP_SCHEDULE_DELAY": "60000"},
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            self.stop()
            raise AssertionError(f"endpoint app did not start: {line!r} {self.stderr()}")

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def endpoint_app() -> Iterator[Callable[..., EndpointApp]]:
    """Start endpoint apps: ``endpoint_app(url, key, environment=None)``; stopped at the end."""
    apps: list[EndpointApp] = []

    def start(url: str, key: str, environment: str | None = None, wait: bool = True) -> EndpointApp:
        app = EndpointApp(url, key, environment)
        apps.append(app)
        if wait:
            app.wait_ready()
        return app

    yield start
    for app in apps:
        app.stop()


def wait_run(
    http: httpx.Client,
    run_id: str,
    predicate: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Poll ``GET /api/v1/test-runs/{id}`` until ``predicate`` (default: run finished)."""
    check = predicate or (lambda run: run["status"] != "running")
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/api/v1/test-runs/{run_id}")
        assert response.status_code == 200, response.text
        run = response.json()
        if check(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not get there in {timeout} s: {run}")
        time.sleep(0.05)


@pytest.fixture
def endpoint_peer(receiver: Any, project: Any) -> Callable[..., AbstractContextManager[Any]]:
    """``with endpoint_peer("f", streaming=True) as ws``: a raw WebSocket peer of the live
    receiver, under this test's project key, that has registered those functions (default
    ``f``); the test speaks the protocol by hand (``socket_helpers``)."""

    @contextmanager
    def connect(*names: str, **options: Any) -> Iterator[Any]:
        with open_socket(receiver, project.api_key) as ws:
            register(ws, *names, **options)
            yield ws

    return connect


@pytest.fixture
def own_receiver(
    database_url: str, endpoint_app: Callable[..., EndpointApp]
) -> Callable[[Any], AbstractContextManager[httpx.Client]]:
    """``with own_receiver(settings) as http``: a receiver of the test's own with ``settings``.

    Served in a thread, with an endpoint app connected under a new API key; ``http`` is a
    client signed in with that key. Stopped after the block.
    """
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.storage import create_api_key

    @contextmanager
    def serve(settings: Any) -> Iterator[httpx.Client]:
        running = start_in_thread(settings)
        try:
            key = create_api_key(database_url, f"own-{uuid.uuid4().hex[:8]}")
            endpoint_app(running.url, key)
            with receiver_fixtures.project_client(running.url, key) as http:
                yield http
        finally:
            running.stop()

    return serve


@pytest.fixture
def run_waiter() -> Callable[..., dict[str, Any]]:
    """``wait_run`` as a fixture."""
    return wait_run


class Shared:
    """A project with an endpoint app connected for the whole session (tests share it)."""

    def __init__(self, project: Any, client: httpx.Client, app: EndpointApp) -> None:
        self.project = project
        self.client = client
        self.app = app


@pytest.fixture(scope="session")
def shared(receiver: Any, database_url: str) -> Iterator[Shared]:
    """One endpoint app for the tests that need no project of their own (starting one per
    test would spend most of the suite's time importing)."""
    project = receiver_fixtures.new_project(database_url, "shared")
    app = EndpointApp(receiver.url, project.api_key)
    app.wait_ready()
    try:
        with receiver_fixtures.project_client(receiver.url, project.api_key) as http:
            yield Shared(project, http, app)
    finally:
        app.stop()
