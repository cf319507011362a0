"""Running installed evaluators in-process, through the tracer's evaluation runner.

Used by ``spanlink.evaluate()`` / ``spanlink.check()`` and the ``spanlink`` marker. An
evaluator that raises, times out or is given parameters it refuses yields a ``Score`` with
an error; it never breaks the test session.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig, Score, SpanRecord, Trace

__all__ = ["as_config", "evaluators", "run_evaluator", "trace_of"]

_lock = threading.Lock()
_found: dict[str, Evaluator] | None = None


def evaluators() -> dict[str, Evaluator]:
    """Installed evaluators by name (loaded once per process; ``SPANLINK_DISABLE_PLUGINS``
    applies)."""
    global _found
    with _lock:
        if _found is None:
            from spanlink.tracer.evaluation import find_evaluators
            from spanlink.tracer.plugins import load_plugins

            manager, _ = load_plugins()
            _found = find_evaluators(manager)
        return _found


def as_config(value: Any) -> EvaluatorConfig:
    """An ``EvaluatorConfig`` from a name, a mapping or a config (the marker's forms)."""
    if isinstance(value, EvaluatorConfig):
        return value
    if isinstance(value, str):
        return EvaluatorConfig(name=value)
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        unknown = set(value) - {"name", "params", "threshold", "required"}
        if unknown:
            raise ValueError(f"unknown evaluator keys {sorted(unknown)}; use name/params/...")
        return EvaluatorConfig(
            name=value["name"],
            params=dict(value.get("params") or {}),
            threshold=value.get("threshold"),
            required=bool(value.get("required", True)),
        )
    raise ValueError(
        f"an evaluator is a name, a dict with 'name' (and params/threshold/required) or an "
        f"EvaluatorConfig, not {value!r}"
    )


def trace_of(spans: Sequence[SpanRecord]) -> Trace | None:
    """The test's spans as one ``Trace`` (spans of several traces are joined under one id)."""
    if not spans:
        return None
    return Trace(trace_id=spans[0].trace_id, spans=list(spans))


def run_evaluator(
    config: EvaluatorConfig, case: Case, output: Any, spans: Sequence[SpanRecord]
) -> list[Score]:
    """Run one evaluator on ``output`` (and the test's spans); errors become scores."""
    from spanlink.tracer.evaluation import evaluate_case

    found = evaluators()
    evaluator = found.get(config.name)
    if evaluator is not None:
        # Parameters that can never work are refused with the evaluator's own reason.
        try:
            evaluator.validate(config.params)
        except Exception as error:
            return [
                Score(
                    name=config.name,
                    evaluator=config.name,
                    evaluator_version=getattr(evaluator, "version", None),
                    error=f"{type(error).__name__}: {error}",
                )
            ]
    judged = evaluate_case([config], case, output, trace_of(spans), evaluators=found)
    return list(judged.scores)
