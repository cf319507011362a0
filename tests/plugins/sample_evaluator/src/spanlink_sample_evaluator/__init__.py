"""Passes when the answer is short enough for a chat bubble."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.tracer.model import Case, Evaluator, Score, Trace
from spanlink.tracer.plugins import hookimpl


class Brevity:
    name = "brevity"
    version = "1.0"
    needs_trace = False  # reads only the output: runs at once, trace is None

    def validate(self, params: Mapping[str, Any]) -> None:
        words = params.get("max_words", 50)
        if not isinstance(words, int) or isinstance(words, bool) or words < 1:
            raise ValueError(f"brevity: 'max_words' must be a positive integer, not {words!r}")

    def evaluate(
        self,
        case: Case,
        output: Any,
        trace: Trace | None,
        *,
        params: Mapping[str, Any],
        threshold: float | None,
        enrichment: Mapping[str, Any] | None = None,
    ) -> Score:
        limit = params.get("max_words", 50)
        words = len(str(output).split())
        value = min(1.0, limit / words) if words else 1.0  # 1.0 within the limit
        return Score(
            name=self.name,
            value=value,
            passed=value >= (threshold if threshold is not None else 1.0),
            explanation=f"{words} words, limit {limit}",
        )


@hookimpl
def spanlink_evaluators() -> list[Evaluator]:
    return [Brevity()]
