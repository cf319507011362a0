"""The ``evals`` plugin's hook implementation (entry point ``evals`` in group ``spanlink``)."""

from __future__ import annotations

from spanlink.plugins.evals._registry import builtin_evaluators
from spanlink.tracer.model import Evaluator
from spanlink.tracer.plugins import hookimpl

__all__ = ["spanlink_evaluators"]


@hookimpl
def spanlink_evaluators() -> list[Evaluator]:
    """Every builtin evaluator: output checks, ``llm_judge`` and the trace checks."""
    return builtin_evaluators()
