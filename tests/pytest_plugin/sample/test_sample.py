"""A sample project: every kind of outcome, and spans across threads, processes, services."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
from opentelemetry import propagate, trace

from spanlink.tracer import ContextThreadPoolExecutor

tracer = trace.get_tracer("sample")

CHILD = """
from opentelemetry import trace
from spanlink.tracer import configure, shutdown
configure()
with trace.get_tracer("child").start_as_current_span("child process work"):
    pass
shutdown()
"""


def test_passes(spanlink):
    with tracer.start_as_current_span("execute_tool lookup_order"):
        pass
    spanlink.score("helpfulness", 0.75, label="good", passed=True, explanation="answered")
    assert spanlink.spans(name="execute_tool lookup_order")


def test_fails():
    with tracer.start_as_current_span("chat gpt-4o"):
        pass
    raise AssertionError("no refund for this order. " * 1000)


@pytest.fixture
def broken():
    with tracer.start_as_current_span("fixture work"):
        pass
    raise RuntimeError("the fixture broke")


def test_errors(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfails():
    raise AssertionError("still broken")


@pytest.mark.xfail(reason="maybe fixed")
def test_xpasses():
    pass


@pytest.mark.parametrize("lang", ["en", "es"])
def test_parametrized(lang):
    with tracer.start_as_current_span(f"greet {lang}"):
        pass


def test_threaded():
    def work(n):
        with tracer.start_as_current_span(f"worker {n}"):
            pass

    with ContextThreadPoolExecutor(2) as pool:
        list(pool.map(work, range(2)))


def test_subprocess():
    subprocess.run([sys.executable, "-c", CHILD], check=True, timeout=120)


def test_two_services(second_service):
    headers: dict[str, str] = {}
    with tracer.start_as_current_span("call second service"):
        propagate.inject(headers)
        request = urllib.request.Request(second_service + "/work", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.read() == b"done"
