"""Run comparison and structural trace diff: pure functions over plain records.

``compare_runs`` matches two runs' case results by case id and names what regressed and
why; ``first_seen`` finds the run a regression first appeared in; ``diff_traces`` aligns
two traces' span trees and names their first divergence. No database here: the receiver's
queries build ``RunRecord``s and ``Trace``s and call these.
"""

from spanlink.receiver.compare._diff import DIVERGENCE_CHANGES, MAX_DIFF_SPANS, diff_traces
from spanlink.receiver.compare._errors import CompareError, TraceTooLarge
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
    "DEFAULT_THRESHOLDS",
    "DIVERGENCE_CHANGES",
    "MAX_DIFF_SPANS",
    "CaseResult",
    "CompareError",
    "RunRecord",
    "Thresholds",
    "TraceTooLarge",
    "compare_runs",
    "diff_traces",
    "first_seen",
    "regression_reasons",
]
