"""``spanlink-receiver serve --workers N``: several processes on one port, one receiver.

Each worker process is a receiver of its own (its own registry of endpoint connections,
its own enrichment queue); runs and invocations route between them over Postgres as
between separate receivers. The test starts the command as an operator does, connects an
endpoint (to whichever worker accepts it), and starts runs on fresh connections until one
was executed by a worker other than the endpoint's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


class Serve:
    """``spanlink-receiver serve --workers N`` in its own process; stderr collected."""

    def __init__(self, database_url: str, workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spanlink.receiver.cli",
                "serve",
                "--database-url",
                database_url,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "info",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stderr(self) -> str:
        return "".join(self.lines)[-4000:]

    def wait_started(self, workers: int, timeout: float = 120.0) -> None:
        """Until every worker finished its startup (each logs it once)."""
        deadline = time.monotonic() + timeout
        while sum("Application startup complete" in line for line in self.lines) < workers:
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, self.stderr()
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"serve did not stop on SIGTERM: {self.stderr()}") from None


@pytest.fixture
def serve(database_url: str) -> Iterator[Serve]:
    server = Serve(database_url, WORKERS)
    try:
        server.wait_started(WORKERS)
        yield server
    finally:
        server.stop()


def _endpoint_receiver(database_url: str, project_id: int) -> str:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT DISTINCT receiver_id FROM endpoint_connections WHERE project_id = %s",
            (project_id,),
        ).fetchall()
    assert len(rows) == 1, rows
    return str(rows[0][0])


def _executor(database_url: str, run_id: str) -> str:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT metadata->>'executor' FROM test_runs WHERE id = %s", (run_id,)
        ).fetchone()
    assert row is not None and row[0], row
    return str(row[0])


def _enriched_span_count(database_url: str, project_id: int, trace_id: str) -> int | None:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT span_count FROM trace_enrichments WHERE project_id = %s AND trace_id = %s",
            (project_id, trace_id),
        ).fetchone()
    return None if row is None else int(row[0])


def test_workers_below_one_are_refused_before_anything_starts(database_url: str) -> None:
    for given in ("0", "-2", "two"):
        done = subprocess.run(
            [sys.executable, "-m", "spanlink.receiver.cli", "serve", "--workers", given],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "argument --workers: must be" in done.stderr, done.stderr
        assert "database at revision" not in done.stderr  # nothing was started


def test_run_started_on_one_worker_reaches_an_endpoint_on_another(
    serve: Serve, database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    workers = _children(serve.process.pid)
    endpoint_app(serve.url, project.api_key)
    holder = _endpoint_receiver(database_url, project.id)
    headers = {"Authorization": f"Bearer {project.api_key}"}
    executors: set[str] = set()
    runs: list[dict[str, Any]] = []
    # Each request on a new connection: the kernel hands it to either worker. 40 tries
    # leave a chance of 2**-40 that every run is executed by the endpoint's own worker.
    for _ in range(40):
        with httpx.Client(base_url=serve.url, headers=headers, timeout=30) as http:
            created = http.post(
                "/api/v1/test-runs",
                json={"function": "answer", "cases": [{"inputs": {"question": "q", "spans": 3}}]},
            )
            assert created.status_code == 201, created.text
            runs.append(run_waiter(http, created.json()["id"]))
        executors.add(_executor(database_url, runs[-1]["id"]))
        if executors - {holder}:
            break
    assert executors - {holder}, "no run was executed by another worker"
    for run in runs:
        assert run["status"] == "completed", run
        (result,) = run["results"]
        assert result["status"] == "passed", result
        assert result["span_count"] == 3
    # Enrichment completes for every run's trace, whichever worker stored its spans.
    deadline = time.monotonic() + 30
    for run in runs:
        trace_id = run["results"][0]["trace_id"]
        while _enriched_span_count(database_url, project.id, trace_id) != 3:
            assert time.monotonic() < deadline, f"trace {trace_id} not enriched"
            time.sleep(0.05)
    # Graceful shutdown: SIGTERM to the command stops every worker (each runs its shutdown).
    assert serve.stop() == 0, serve.stderr()
    assert sum("Application shutdown complete" in line for line in serve.lines) == WORKERS
    # (multiprocessing's resource tracker, also a child, exits once the parent is gone)
    deadline = time.monotonic() + 10
    while [pid for pid in workers if _alive(pid)]:
        assert time.monotonic() < deadline, [pid for pid in workers if _alive(pid)]
        time.sleep(0.05)


def test_each_worker_rebuilds_the_commands_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spanlink.receiver.app import create_app_from_environment
    from spanlink.receiver.settings import Settings

    given = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/x",
        enrichment="off",
        enrichment_debounce_ms=12.5,
        enrichment_plugin_config={"anomaly": {"slow_ms": 5}},
    )
    environment = given.to_environment()
    assert environment["SPANLINK_ENRICHMENT"] == "off"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt == given
    app = create_app_from_environment()
    assert app.state.settings == given
    app.state.engine.dispose()
