"""A run whose executing receiver stops is finished by another receiver's sweep."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import _housekeeping
from spanlink.receiver.testruns.store import ORPHANED_CASE_ERROR


def _start_slow_run(url: str, headers: dict[str, str], seconds: float, run_waiter: Any) -> str:
    """Start three ``slow`` cases one at a time through ``url``; return once the first runs."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        cases = [{"id": f"c{n}", "inputs": {"seconds": seconds}} for n in range(3)]
        created = http.post(
            "/api/v1/test-runs", json={"function": "slow", "cases": cases, "concurrency": 1}
        )
        assert created.status_code == 201, created.text
        run_id: str = created.json()["id"]
        run_waiter(http, run_id, lambda run: run["progress"]["counts"]["running"] == 1)
    return run_id


def test_cases_never_started_fail_when_the_executing_receiver_stops(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    headers = {"Authorization": f"Bearer {project.api_key}"}
    survivor_settings = Settings(database_url=database_url, linking_sweep_interval_s=0.3)
    with start_in_thread(survivor_settings) as survivor:
        endpoint_app(survivor.url, project.api_key)  # the endpoint stays reachable
        executor = start_in_thread(Settings(database_url=database_url))
        try:
            run_id = _start_slow_run(executor.url, headers, 1.5, run_waiter)
        finally:
            executor.stop()  # its queued cases will never be invoked by it
        with httpx.Client(base_url=survivor.url, headers=headers, timeout=30) as http:
            run = run_waiter(http, run_id)
    assert run["status"] == "completed"
    by_case = {result["case_id"]: result for result in run["results"]}
    # The case in flight was answered by the endpoint through the surviving receiver.
    assert by_case["c0"]["status"] == "passed" and by_case["c0"]["output"] == "done"
    for case_id in ("c1", "c2"):
        assert by_case[case_id]["status"] == "error"
        assert by_case[case_id]["error"] == ORPHANED_CASE_ERROR
    assert "executor_seen" not in run["metadata"]


def test_a_live_executor_keeps_its_queued_cases(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    headers = {"Authorization": f"Bearer {project.api_key}"}
    settings = Settings(database_url=database_url, linking_sweep_interval_s=0.2)
    with start_in_thread(settings) as first, start_in_thread(settings) as second:
        endpoint_app(second.url, project.api_key)
        with httpx.Client(base_url=first.url, headers=headers, timeout=30) as http:
            cases = [{"id": f"c{n}", "inputs": {"seconds": 0.5}} for n in range(3)]
            created = http.post(
                "/api/v1/test-runs", json={"function": "slow", "cases": cases, "concurrency": 1}
            ).json()
            run = run_waiter(http, created["id"])
    # Both receivers swept many times meanwhile; nothing was failed for a live executor.
    assert run["status"] == "completed"
    assert [result["status"] for result in run["results"]] == ["passed"] * 3


COMMAND = [sys.executable, "-m", "spanlink.receiver.cli", "serve"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(database_url: str) -> tuple[subprocess.Popen[str], str]:
    """A receiver in its own process (so that it can be killed outright)."""
    port = _free_port()
    process = subprocess.Popen(
        [*COMMAND, "--port", str(port), "--database-url", database_url, "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the receiver exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the receiver did not become ready within 60 s")


def test_a_run_of_a_killed_receiver_finishes_once_its_heartbeat_is_stale(
    database_url: str,
    project: Any,
    endpoint_app: Any,
    run_waiter: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_housekeeping, "EXECUTOR_FRESH_S", 3)  # read by the in-process survivor
    headers = {"Authorization": f"Bearer {project.api_key}"}
    survivor_settings = Settings(database_url=database_url, linking_sweep_interval_s=0.3)
    with start_in_thread(survivor_settings) as survivor:
        endpoint_app(survivor.url, project.api_key)
        process, url = _serve(database_url)
        try:
            run_id = _start_slow_run(url, headers, 1.0, run_waiter)
        finally:
            process.kill()  # no goodbye: only its heartbeat stops
            process.wait(10)
        with httpx.Client(base_url=survivor.url, headers=headers, timeout=30) as http:
            run = run_waiter(http, run_id)
    assert run["status"] == "completed"
    by_case = {result["case_id"]: result for result in run["results"]}
    assert by_case["c0"]["status"] == "passed"
    assert [by_case[c]["error"] for c in ("c1", "c2")] == [ORPHANED_CASE_ERROR] * 2
