"""The builtin evaluators, one instance each (they hold no per-case state)."""

from __future__ import annotations

from spanlink.plugins.evals._judge import LlmJudge
from spanlink.plugins.evals._output import OUTPUT_EVALUATORS
from spanlink.plugins.evals._trace import TRACE_EVALUATORS
from spanlink.tracer.model import Evaluator

__all__ = ["EVALUATOR_CLASSES", "builtin_evaluators"]

#: Output checks, the judge, then the trace checks (the order of the plugin's docs).
EVALUATOR_CLASSES = (*OUTPUT_EVALUATORS, LlmJudge, *TRACE_EVALUATORS)


def builtin_evaluators() -> list[Evaluator]:
    """A new instance of every builtin evaluator."""
    return [cls() for cls in EVALUATOR_CLASSES]
