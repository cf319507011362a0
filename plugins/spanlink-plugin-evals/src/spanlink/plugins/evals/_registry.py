"""The builtin evaluators, one instance each (they hold no per-case state)."""

from __future__ import annotations

from spanlink.plugins.evals._judge import LlmJudge
from spanlink.plugins.evals._output import (
    Contains,
    Equals,
    JsonPath,
    JsonSchema,
    Length,
    NotContains,
    Numeric,
    Regex,
)
from spanlink.plugins.evals._trace import (
    MaxCostUsd,
    MaxLatencyMs,
    MaxLlmCalls,
    MaxTokens,
    MaxToolCalls,
    NoAnomaly,
    NoErrorSpans,
    SpanExists,
    ToolCalled,
    ToolNotCalled,
    ToolOrder,
)
from spanlink.tracer.model import Evaluator

__all__ = ["EVALUATOR_CLASSES", "builtin_evaluators"]

EVALUATOR_CLASSES = (
    Equals,
    Contains,
    NotContains,
    Regex,
    JsonSchema,
    JsonPath,
    Numeric,
    Length,
    LlmJudge,
    ToolCalled,
    ToolNotCalled,
    ToolOrder,
    MaxLlmCalls,
    MaxToolCalls,
    MaxCostUsd,
    MaxLatencyMs,
    MaxTokens,
    NoErrorSpans,
    NoAnomaly,
    SpanExists,
)


def builtin_evaluators() -> list[Evaluator]:
    """A new instance of every builtin evaluator."""
    return [cls() for cls in EVALUATOR_CLASSES]
