"""The receiver down or a wrong key: tests run exactly as without the plugin, one message."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pytest_plugin_helpers import child_env, dump, run_pytest, spanlink_args, write_tests

SUITE = """
import pytest
from opentelemetry import trace

def test_passes():
    with trace.get_tracer("t").start_as_current_span("work"):
        pass

def test_fails():
    assert 1 == 2

@pytest.mark.parametrize("n", range(20))
def test_many(n):
    with trace.get_tracer("t").start_as_current_span(f"work {n}"):
        pass
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once closed


def test_without_the_plugin_for_reference(tmp_path: Path) -> None:
    write_tests(tmp_path, SUITE)
    outcome = run_pytest(tmp_path)
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)


def test_receiver_down_tests_run_as_without_the_plugin_one_warning(tmp_path: Path) -> None:
    write_tests(tmp_path, SUITE)
    url = f"http://127.0.0.1:{_closed_port()}"
    outcome = run_pytest(
        tmp_path, "--spanlink", "--spanlink-url", url, "--spanlink-flush-timeout", "1"
    )
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)
    warnings = outcome.lines("spanlink")
    assert [line for line in warnings if "warning" in line.lower() or "error" in line.lower()] == [
        f"spanlink warning: cannot reach the receiver at {url}: "
        "ConnectError: [Errno 111] Connection refused"
    ], dump(outcome)
    assert not outcome.lines("Traceback"), dump(outcome)


def test_a_wrong_key_is_one_clear_error_line_and_tests_still_run(
    tmp_path: Path, reporting: dict[str, str]
) -> None:
    write_tests(tmp_path, SUITE)
    args = spanlink_args({**reporting, "key": "slk_not_a_key"})
    outcome = run_pytest(tmp_path, *args, env=child_env())
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)
    (line,) = outcome.lines("refused the API key")
    assert "unknown or revoked API key" in line
    assert "--spanlink-api-key / SPANLINK_API_KEY" in line
    assert len(outcome.lines("spanlink warning")) == 1
    assert not outcome.lines("Traceback"), dump(outcome)


def test_the_api_key_from_the_environment(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    write_tests(tmp_path, "def test_one():\n    pass\n")
    env = child_env(SPANLINK_ENDPOINT=reporting["url"], SPANLINK_API_KEY=reporting["key"])
    outcome = run_pytest(tmp_path, "--spanlink", env=env)
    assert outcome.returncode == 0, dump(outcome)
    run = client.get(f"/api/v1/test-runs/{outcome.run_id}").json()
    assert [result["status"] for result in run["results"]] == ["passed"]
