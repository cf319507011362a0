"""``@pytest.mark.spanlink(evaluators=[...], case_id=...)``: evaluators on a test's output.

The output is what ``spanlink.output(value)`` recorded, else the test function's return
value. Scores are recorded on the test; a required evaluator that does not pass fails it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from spanlink.pytest._errors import EvaluationFailed
from spanlink.pytest._evaluation import as_config, run_evaluator
from spanlink.pytest._state import NO_OUTPUT, TestState

__all__ = ["evaluate_marker", "wrap_for_return_value"]


def wrap_for_return_value(item: pytest.Function) -> tuple[list[Any], Callable[[], None]]:
    """Make ``item`` remember its test function's return value; returns (box, restore)."""
    box: list[Any] = []
    original = item.obj
    if inspect.iscoroutinefunction(original) or not callable(original):
        return box, lambda: None  # async tests record their output with spanlink.output()

    @functools.wraps(original)
    def remember(*args: Any, **kwargs: Any) -> Any:
        value = original(*args, **kwargs)
        box.append(value)
        return None  # pytest warns about tests that return non-None

    item.obj = remember

    def restore() -> None:
        item.obj = original

    return box, restore


def evaluate_marker(marker: pytest.Mark, state: TestState, captured: list[Any]) -> None:
    """Run the marker's evaluators on the output; raise ``EvaluationFailed`` if one fails."""
    from spanlink.tracer.model import Case

    output = state.output if state.output is not NO_OUTPUT else (captured[0] if captured else None)
    if state.output is NO_OUTPUT and captured:
        state.output = captured[0]
    configs = [as_config(value) for value in marker.kwargs.get("evaluators") or ()]
    case = Case(id=state.case_id, inputs=dict(state.inputs))
    spans = state.spans.records() if state.spans is not None else []
    failed: list[str] = []
    for config in configs:
        scores = run_evaluator(config, case, output, spans)
        state.add_scores(scores)
        for score in scores:
            if config.required and (score.error is not None or score.passed is False):
                failed.append(f"{score.name}: {score.error or score.explanation or 'did not pass'}")
    if failed:
        __tracebackhide__ = True
        raise EvaluationFailed("; ".join(failed))
