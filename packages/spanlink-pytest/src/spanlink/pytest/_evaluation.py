"""Running installed evaluators in-process (the ``spanlink_evaluators`` hook).

Used by ``spanlink.evaluate()`` / ``spanlink.check()`` and the ``spanlink`` marker. An
evaluator that raises, or is given parameters it refuses, yields a ``Score`` with an error;
it never breaks the test session.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig, Score, SpanRecord, Trace

__all__ = ["as_config", "evaluators", "run_evaluator", "trace_of"]

_lock = threading.Lock()
_found: dict[str, Evaluator] | None = None


def evaluators() -> dict[str, Evaluator]:
    """Installed evaluators by name (loaded once per process)."""
    global _found
    with _lock:
        if _found is None:
            from spanlink.tracer.plugins import call_each, load_plugins

            manager, _ = load_plugins()
            found: dict[str, Evaluator] = {}
            results, _errors = call_each(manager, "spanlink_evaluators")
            for provided in results.values():
                for evaluator in provided or ():
                    found[str(evaluator.name)] = evaluator
            _found = found
        return dict(_found)


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


def _run_awaitable(awaitable: Any) -> Any:
    """Await ``awaitable`` to completion, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_wrap(awaitable))
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(_wrap(awaitable)))
        except BaseException as error:  # handed back to the caller below
            failure.append(error)

    thread = threading.Thread(target=target, name="spanlink-evaluate", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def _wrap(awaitable: Any) -> Any:
    return await awaitable


def _scores(value: Any, name: str) -> list[Score]:
    if isinstance(value, Score):
        return [value]
    if isinstance(value, Iterable):
        scores = list(value)
        if all(isinstance(score, Score) for score in scores):
            return scores
    raise TypeError(f"evaluator {name!r} returned {type(value).__name__}, not Score(s)")


def run_evaluator(
    config: EvaluatorConfig, case: Case, output: Any, spans: Sequence[SpanRecord]
) -> list[Score]:
    """Run one evaluator on ``output`` (and the test's spans); errors become scores."""
    evaluator = evaluators().get(config.name)
    if evaluator is None:
        known = ", ".join(sorted(evaluators())) or "none installed"
        return [
            Score(
                name=config.name,
                evaluator=config.name,
                error=f"unknown evaluator {config.name!r} (installed: {known}); "
                "install the plugin that provides it",
            )
        ]
    version = getattr(evaluator, "version", None)
    try:
        evaluator.validate(config.params)
        value = evaluator.evaluate(
            case,
            output,
            trace_of(spans) if evaluator.needs_trace else None,
            params=config.params,
            threshold=config.threshold,
        )
        if inspect.isawaitable(value):
            value = _run_awaitable(value)
        return _scores(value, config.name)
    except Exception as error:
        return [
            Score(
                name=config.name,
                evaluator=config.name,
                evaluator_version=version,
                error=f"{type(error).__name__}: {error}",
            )
        ]
