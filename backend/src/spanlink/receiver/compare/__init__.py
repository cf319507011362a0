"""Run comparison and structural trace diff: pure functions over plain records.

``compare_runs`` matches two runs' case results by case id and names what regressed and
why; ``first_seen`` finds the run a regression first appeared in; ``diff_traces`` aligns
two traces' span trees and names their first divergence. Those are pure; the queries
(``load_run_row``, ``load_run``, ``auto_baseline``, ``runs_between``, ``load_diff_trace``)
build their ``RunRecord``s and ``Trace``s from the database for the API.
"""

from spanlink.receiver.compare._diff import DIVERGENCE_CHANGES, MAX_DIFF_SPANS, diff_traces
from spanlink.receiver.compare._errors import CompareError, TraceTooLarge
from spanlink.receiver.compare._queries import (
    DEFAULT_BASELINE_BRANCH,
    MAX_INTERMEDIATE_RUNS,
    RunRow,
    auto_baseline,
    load_diff_trace,
    load_run,
    load_run_row,
    runs_between,
)
from spanlink.receiver.compare._records import CaseResult, RunRecord, Thresholds
from spanlink.receiver.compare._runs import (
    CHANGES,
    DEFAULT_THRESHOLDS,
    compare_runs,
    first_seen,
    regression_reasons,
)

__all__ = [
    "CHANGES",
    "DEFAULT_BASELINE_BRANCH",
    "DEFAULT_THRESHOLDS",
    "DIVERGENCE_CHANGES",
    "MAX_DIFF_SPANS",
    "MAX_INTERMEDIATE_RUNS",
    "CaseResult",
    "CompareError",
    "RunRecord",
    "RunRow",
    "Thresholds",
    "TraceTooLarge",
    "auto_baseline",
    "compare_runs",
    "diff_traces",
    "first_seen",
    "load_diff_trace",
    "load_run",
    "load_run_row",
    "regression_reasons",
    "runs_between",
]
