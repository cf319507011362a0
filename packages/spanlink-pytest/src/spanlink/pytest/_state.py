"""What the plugin keeps about one running test."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from spanlink.pytest._collector import TestSpans
    from spanlink.tracer.model import Score

__all__ = ["NO_OUTPUT", "STATE", "TestState"]

#: Marks "no output recorded" (None is a valid output).
NO_OUTPUT: Any = object()


@dataclass(slots=True)
class TestState:
    """One test's result while it runs: ids, scores, output, reports, its root span."""

    __test__ = False

    result_id: str
    run_id: str | None
    case_id: str
    inputs: dict[str, Any]
    started_at: float = field(default_factory=time.time)
    scores: list[Score] = field(default_factory=list)
    output: Any = NO_OUTPUT
    reports: list[pytest.TestReport] = field(default_factory=list)
    root: Span | None = None
    spans: TestSpans | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_scores(self, scores: list[Score]) -> None:
        """Record scores (thread-safe: a test may score from worker threads)."""
        with self.lock:
            self.scores.extend(scores)


STATE = pytest.StashKey[TestState]()
