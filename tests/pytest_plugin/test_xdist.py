"""pytest-xdist: one run for the whole session; the workers report their cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_plugin_helpers import by_case, dump, read_run, run_pytest, spanlink_args, write_tests

SUITE = """
import os
import pytest
from opentelemetry import trace

@pytest.mark.parametrize("n", range(8))
def test_case(n, spanlink):
    with trace.get_tracer("t").start_as_current_span(f"work {n}"):
        pass
    spanlink.score("n", float(n), label=os.environ["PYTEST_XDIST_WORKER"])
    assert n != 5
"""


def test_two_workers_report_into_one_run(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    write_tests(tmp_path, SUITE)
    outcome = run_pytest(tmp_path, "-p", "xdist.plugin", "-n", "2", *spanlink_args(reporting))
    assert outcome.lines("1 failed, 7 passed"), dump(outcome)
    assert outcome.lines("run *: 8 cases: 7 passed, 1 failed".replace("*", outcome.run_id or ""))
    run = read_run(client, outcome.run_id)
    assert run["status"] == "completed"
    listed = client.get("/api/v1/test-runs").json()["items"]
    assert [item["id"] for item in listed] == [run["id"]]  # one run, not one per worker
    results = by_case(run)
    assert len(results) == 8
    workers = {result["scores"][0]["label"] for result in run["results"]}
    assert workers == {"gw0", "gw1"}  # xdist hands each worker its first tests at once
    for n in range(8):
        result = results[f"test_suite.py::test_case[{n}]"]
        assert result["status"] == ("failed" if n == 5 else "passed")
        assert result["scores"][0]["value"] == float(n)
        assert result["span_count"] >= 5 and result["trace_ids"]
