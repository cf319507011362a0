"""The receiver down or a wrong key: tests run exactly as without the plugin, one message."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_plugin_helpers import (
    child_env,
    dump,
    read_run,
    run_pytest,
    spanlink_args,
    write_tests,
)

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


class _BusyProxy:
    """A loopback HTTP proxy to the live receiver that answers ``status`` (with
    ``Retry-After``) to the first ``times[suffix]`` requests whose path ends with ``suffix``."""

    def __init__(
        self,
        upstream: str,
        times: dict[str, int],
        status: int,
        page: tuple[str, bytes] = ("application/json", b'{"code": "busy", "message": "try again"}'),
    ) -> None:
        self.refused: list[str] = []
        self.forwarded: list[str] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    suffix = next((end for end in times if self.path.endswith(end)), None)
                    refuse = suffix is not None and (
                        sum(path.endswith(suffix) for path in outer.refused) < times[suffix]
                    )
                    (outer.refused if refuse else outer.forwarded).append(self.path)
                if refuse:
                    content_type, payload = page
                    self.send_response(status)
                    self.send_header("retry-after", "0")
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                answer = httpx.request(
                    self.command, upstream + self.path, content=body, headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                for key in ("content-type", "retry-after"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def busy_proxy(reporting: dict[str, str]) -> Iterator[Callable[..., _BusyProxy]]:
    proxies: list[_BusyProxy] = []

    def start(times: dict[str, int], status: int = 503, **page: Any) -> _BusyProxy:
        proxies.append(_BusyProxy(reporting["url"], times, status, **page))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


@pytest.mark.parametrize("status", [503, 429, 502])
def test_a_busy_receiver_loses_no_result(
    tmp_path: Path,
    reporting: dict[str, str],
    client: Any,
    busy_proxy: Callable[..., _BusyProxy],
    status: int,
) -> None:
    """'Not now' answers to the run's creation and to its results are retried, not dropped
    (the run given up, the batch lost); a problem that a retry cured is not reported."""
    write_tests(tmp_path, SUITE)
    proxy = busy_proxy({"/api/v1/test-runs": 2, "/results": 3}, status)
    outcome = run_pytest(tmp_path, *spanlink_args({**reporting, "url": proxy.url}))
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)
    assert proxy.refused.count("/api/v1/test-runs") == 2, proxy.refused
    assert len(proxy.refused) == 5, proxy.refused
    assert not outcome.lines("spanlink warning"), dump(outcome)
    assert not outcome.lines("could not be reported"), dump(outcome)
    run = read_run(client, outcome.run_id)
    assert sorted(result["case_id"].split("::")[-1] for result in run["results"]) == sorted(
        ["test_passes", "test_fails", *(f"test_many[{n}]" for n in range(20))]
    )
    assert all(result["status"] in ("passed", "failed") for result in run["results"])
    assert run["status"] == "completed", run["status"]


def test_busy_to_the_end_says_so_and_counts_what_was_lost(
    tmp_path: Path, reporting: dict[str, str], client: Any, busy_proxy: Callable[..., _BusyProxy]
) -> None:
    """Within the flush timeout the reporter gives up: one warning naming the answer, the
    lost results counted, the tests' outcome untouched, the run finished with what it has."""
    write_tests(tmp_path, SUITE)
    proxy = busy_proxy({"/results": 10_000})
    args = [*spanlink_args({**reporting, "url": proxy.url}), "--spanlink-flush-timeout", "1"]
    outcome = run_pytest(tmp_path, *args)
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)
    (warning,) = outcome.lines("spanlink warning")
    assert "reporting results: the receiver answered 503: try again" in warning, warning
    assert outcome.lines("22 result(s) could not be reported"), dump(outcome)
    assert len(proxy.refused) >= 2  # retried, not given up on the first answer
    assert read_run(client, outcome.run_id)["results"] == []


def test_a_page_that_is_no_receiver_is_one_clear_warning(
    tmp_path: Path, busy_proxy: Callable[..., _BusyProxy]
) -> None:
    """A 200 that is not JSON (a proxy's or portal's page at the URL): the run is not
    created, one warning says why and what to check, the tests run as without the plugin."""
    write_tests(tmp_path, SUITE)
    proxy = busy_proxy({"": 10_000}, 200, page=("text/html", b"<html>sign in first</html>"))
    outcome = run_pytest(tmp_path, "--spanlink", "--spanlink-url", proxy.url)
    assert outcome.returncode == 1
    assert outcome.lines("1 failed, 21 passed"), dump(outcome)
    (warning,) = outcome.lines("spanlink warning")
    assert "answered 200 with no JSON (text/html); is it a spanlink receiver?" in warning
    assert "--spanlink-url / SPANLINK_ENDPOINT" in warning
    assert not outcome.lines("Traceback"), dump(outcome)
