"""spanlink-plugin-evals: the builtin evaluators.

Registered through the entry point ``evals`` in group ``spanlink`` (hook
``spanlink_evaluators``). Output evaluators: ``equals``, ``contains``, ``not_contains``,
``regex``, ``json_schema``, ``json_path``, ``numeric``, ``length``; the judge ``llm_judge``;
trace evaluators: ``tool_called``, ``tool_not_called``, ``tool_order``, ``max_llm_calls``,
``max_tool_calls``, ``max_cost_usd``, ``max_latency_ms``, ``max_tokens``,
``no_error_spans``, ``no_anomaly``, ``span_exists``. Each class's docstring is its manual.
"""

from spanlink.plugins.evals._base import VERSION, BuiltinEvaluator, ParamError
from spanlink.plugins.evals._json import parse_path, resolve_path
from spanlink.plugins.evals._judge import LlmJudge, parse_judgement
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
from spanlink.plugins.evals._registry import builtin_evaluators
from spanlink.plugins.evals._trace import (
    LLM_OPERATIONS,
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

__all__ = [
    "LLM_OPERATIONS",
    "VERSION",
    "BuiltinEvaluator",
    "Contains",
    "Equals",
    "JsonPath",
    "JsonSchema",
    "Length",
    "LlmJudge",
    "MaxCostUsd",
    "MaxLatencyMs",
    "MaxLlmCalls",
    "MaxTokens",
    "MaxToolCalls",
    "NoAnomaly",
    "NoErrorSpans",
    "NotContains",
    "Numeric",
    "ParamError",
    "Regex",
    "SpanExists",
    "ToolCalled",
    "ToolNotCalled",
    "ToolOrder",
    "builtin_evaluators",
    "parse_judgement",
    "parse_path",
    "resolve_path",
]
