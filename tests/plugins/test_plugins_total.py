"""The cost and anomaly plugins accept any OTLP value under the GenAI names they read.

``normalize`` passes attributes already under GenAI names through as they are, so an array,
a kvlist, bytes or deeply nested JSON text can reach a plugin: it must not raise (a raise
loses that span's enrichment) nor hash such a value.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from plugin_helpers import enrich_spans

from spanlink.tracer.plugins import load_plugins
from spanlink.tracer.semconv import attributes as a
from spanlink.tracer.semconv import normalize

from .conftest import SpanFactory

VALUES: list[Any] = [
    ["chat"],
    ("execute_tool",),
    {"name": "chat"},
    b"chat",
    3,
    True,
    math.nan,
    2**70,
    "[" * 100_000,
    "{" * 100_000,
    [],
    None,
]
KEYS = [
    a.GEN_AI_OPERATION_NAME,
    a.GEN_AI_REQUEST_MODEL,
    a.GEN_AI_RESPONSE_MODEL,
    a.GEN_AI_PROVIDER_NAME,
    a.GEN_AI_USAGE_INPUT_TOKENS,
    a.GEN_AI_USAGE_OUTPUT_TOKENS,
    a.GEN_AI_OUTPUT_MESSAGES,
    a.SPANLINK_OUTPUT,
    a.GEN_AI_TOOL_NAME,
    a.GEN_AI_TOOL_CALL_ARGUMENTS,
]


@pytest.mark.parametrize("key", KEYS)
def test_cost_and_anomaly_take_every_value_type(key: str, make_span: SpanFactory) -> None:
    manager, _ = load_plugins(disabled=frozenset())
    bases: list[dict[str, Any]] = [
        {
            a.GEN_AI_OPERATION_NAME: "chat",
            a.GEN_AI_REQUEST_MODEL: "gpt-4o",
            a.GEN_AI_USAGE_INPUT_TOKENS: 10,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
        },
        {a.GEN_AI_OPERATION_NAME: "chat", a.GEN_AI_REQUEST_MODEL: "gpt-4o"},  # no usage
        {a.GEN_AI_OPERATION_NAME: "execute_tool", a.GEN_AI_TOOL_NAME: "search"},
    ]
    for value, base in ((v, b) for v in VALUES for b in bases):
        spans = [
            make_span("call", normalize({**base, key: value}), start_ms=i * 10) for i in range(4)
        ]
        enrich_spans(manager, spans, checked=("cost", "anomaly"), note=(key, value))
