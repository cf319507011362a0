"""``--spanlink-baseline``: the comparison when the receiver has it, one line when it has not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_plugin_helpers import dump, run_pytest, spanlink_args, write_tests

SUITE = "def test_one():\n    pass\n"


def _has_compare(client: Any) -> bool:
    paths = client.get("/openapi.json").json()["paths"]
    return "/api/v1/test-runs/{run_id}/compare" in paths


def test_without_the_comparison_api_it_says_so_once(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    if _has_compare(client):
        pytest.skip("this receiver has the comparison API")
    write_tests(tmp_path, SUITE)
    first = run_pytest(tmp_path, *spanlink_args(reporting))
    outcome = run_pytest(
        tmp_path,
        *spanlink_args(reporting),
        "--spanlink-baseline",
        first.run_id or "",
        "--spanlink-fail-on-regression",
    )
    assert outcome.returncode == 0, dump(outcome)
    assert len(outcome.lines("comparison not available on this receiver")) == 1, dump(outcome)
    assert not outcome.lines("spanlink warning"), dump(outcome)
