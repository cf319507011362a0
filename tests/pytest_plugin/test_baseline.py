"""``--spanlink-baseline``: regressions against the baseline run, and failing on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_plugin_helpers import child_env, dump, run_pytest, spanlink_args, write_tests

SUITE = """
import os

def test_answer(spanlink):
    spanlink.score("quality", float(os.environ["QUALITY"]))

def test_steady(spanlink):
    spanlink.score("quality", 1.0)
"""


def test_regressions_are_printed_and_fail_the_session_when_asked(
    tmp_path: Path, reporting: dict[str, str], client: Any
) -> None:
    write_tests(tmp_path, SUITE)
    args = spanlink_args(reporting)
    baseline = run_pytest(tmp_path, *args, env=child_env(QUALITY="0.9"))
    assert baseline.returncode == 0, dump(baseline)
    compared = ["--spanlink-baseline", baseline.run_id or ""]
    worse = run_pytest(tmp_path, *args, *compared, env=child_env(QUALITY="0.2"))
    assert worse.returncode == 0, dump(worse)  # tests pass; a regression alone does not fail
    assert worse.lines(f"compared with baseline {baseline.run_id}: 1 regressed, 1 unchanged")
    (line,) = worse.lines("REGRESSED")
    assert "test_suite.py::test_answer" in line and "score quality dropped 0.9 -> 0.2" in line
    failing = run_pytest(
        tmp_path, *args, *compared, "--spanlink-fail-on-regression", env=child_env(QUALITY="0.2")
    )
    assert failing.returncode == 1, dump(failing)
    assert failing.lines("2 passed"), dump(failing)
    same = run_pytest(
        tmp_path, *args, *compared, "--spanlink-fail-on-regression", env=child_env(QUALITY="0.9")
    )
    assert same.returncode == 0, dump(same)
    assert not same.lines("REGRESSED")
    assert not same.lines("comparison not available"), dump(same)
