"""Tests that reseed ``random`` (pytest-randomly does, before every test) keep distinct ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_plugin_helpers import dump, read_run, run_pytest, spanlink_args, write_tests

RESEEDING = """
import random
import pytest

# As pytest-randomly does before each phase of every test.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    random.seed(42)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    random.seed(42)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    random.seed(42)
"""

SUITE = """
from opentelemetry import trace

def test_one():
    with trace.get_tracer("t").start_as_current_span("work one"):
        pass

def test_two():
    with trace.get_tracer("t").start_as_current_span("work two"):
        pass
"""


def test_every_test_keeps_its_own_spans_when_random_is_reseeded(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    write_tests(tmp_path, RESEEDING, name="conftest.py")
    write_tests(tmp_path, SUITE)
    outcome = run_pytest(tmp_path, *spanlink_args(reporting))
    assert outcome.returncode == 0, dump(outcome)
    run = read_run(client, outcome.run_id)
    trace_ids = [result["trace_ids"] for result in run["results"]]
    assert len({ids[0] for ids in trace_ids}) == 2
    for result in run["results"]:
        spans = client.get(f"/api/v1/traces/{result['trace_ids'][0]}").json()["spans"]
        names = {span["name"] for span in spans}
        expected = "work one" if result["case_id"].endswith("one") else "work two"
        assert {expected, "setup", "call", "teardown"} <= names
