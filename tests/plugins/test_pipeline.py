"""Spans made by the stock OpenTelemetry SDK, as instrumentations emit them, through the
installed plugins (entry-point discovery, ``normalize``, ``call_each``), as a host runs them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from plugin_helpers import enrich_spans

from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import load_plugins
from spanlink.tracer.semconv import normalize

# What the instrumentations emit for an OpenAI chat call with usage {prompt 1000,
# completion 500, cached 400} (shared/reference/instrumentor-attributes.md).
OPENINFERENCE_CHAT = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.invocation_parameters": '{"model": "gpt-4o"}',
    "llm.token_count.prompt": 1000,
    "llm.token_count.completion": 500,
    "llm.token_count.total": 1500,
    "llm.token_count.prompt_details.cache_read": 400,
    "llm.token_count.completion_details.reasoning": 0,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "It is sunny.",
}
OPENLLMETRY_CHAT = {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
    "gen_ai.usage.total_tokens": 1500,
    "gen_ai.usage.cache_read.input_tokens": 400,
    "gen_ai.usage.reasoning_tokens": 0,
}
OPENLLMETRY_STREAM_NO_USAGE = {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.is_streaming": True,
}


def _produce_spans() -> list[SpanRecord]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.plugins")
    with tracer.start_as_current_span("invoke_agent planner"):
        with tracer.start_as_current_span("ChatCompletion", attributes=OPENINFERENCE_CHAT):
            pass
        with tracer.start_as_current_span(
            "openai.chat", kind=SpanKind.CLIENT, attributes=OPENLLMETRY_CHAT
        ):
            pass
        with tracer.start_as_current_span(
            "openai.chat", kind=SpanKind.CLIENT, attributes=OPENLLMETRY_STREAM_NO_USAGE
        ):
            pass
        for _ in range(3):
            with tracer.start_as_current_span(
                "execute_tool search",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "search",
                    "gen_ai.tool.call.arguments": '{"q": "weather in Paris"}',
                },
            ):
                pass
        with tracer.start_as_current_span("execute_tool fetch") as failing:
            failing.set_attribute("gen_ai.operation.name", "execute_tool")
            failing.set_attribute("gen_ai.tool.name", "fetch")
            failing.set_attribute("error.type", "ConnectionError")
            failing.set_status(Status(StatusCode.ERROR, "connection refused"))
    provider.shutdown()
    records = [SpanRecord.from_readable_span(span) for span in exporter.get_finished_spans()]
    # The host normalizes before enrichment, so plugins read GenAI names only.
    return [dataclasses.replace(r, attributes=normalize(r.attributes)) for r in records]


@pytest.fixture(scope="module")
def enriched() -> tuple[list[SpanRecord], dict[str, dict[str, Any]], dict[str, Any]]:
    spans = _produce_spans()
    manager, infos = load_plugins(disabled=frozenset())
    assert {"cost", "anomaly"} <= {info.name for info in infos}
    span_results, trace_results = enrich_spans(manager, spans)
    json.dumps([span_results, trace_results])
    return spans, span_results, trace_results


def _by_name(spans: list[SpanRecord], name: str) -> list[SpanRecord]:
    return [span for span in spans if span.name == name]


def test_both_conventions_cost_the_same_hand_computed_amount(enriched: Any) -> None:
    spans, span_results, _ = enriched
    (openinference,) = _by_name(spans, "ChatCompletion")
    openllmetry = next(
        s for s in _by_name(spans, "openai.chat") if "gen_ai.usage.input_tokens" in s.attributes
    )
    for span in (openinference, openllmetry):
        cost = span_results[span.span_id]["cost"]
        assert cost["status"] == "ok"
        assert cost["model"] == "gpt-4o-2024-08-06"
        # 600 x $2.50/M + 400 x $1.25/M + 500 x $10/M
        assert cost["total_cost"] == pytest.approx(0.0015 + 0.0005 + 0.005)


def test_streaming_without_usage_is_unpriced_not_free(enriched: Any) -> None:
    spans, span_results, trace_results = enriched
    stream = next(
        s for s in _by_name(spans, "openai.chat") if s.attributes.get("gen_ai.is_streaming")
    )
    assert span_results[stream.span_id]["cost"]["status"] == "no_usage"
    rollup = trace_results["cost"]
    assert rollup["total_cost"] == pytest.approx(0.014)
    assert rollup["unpriced_llm_spans"] == 1 and rollup["complete"] is False
    assert rollup["tokens_by_model"]["gpt-4o-2024-08-06"]["cache_read_tokens"] == 800


def test_anomalies_of_the_trace(enriched: Any) -> None:
    spans, span_results, trace_results = enriched
    (failing,) = _by_name(spans, "execute_tool fetch")
    assert span_results[failing.span_id]["anomaly"]["rules"] == "error_span"
    rollup = trace_results["anomaly"]
    assert rollup["counts"] == {"error_span": 1, "tool_loop": 1}
    assert rollup["worst_severity"] == "error"
    loop = next(f for f in rollup["anomalies"] if f["rule"] == "tool_loop")
    assert loop["value"] == 3
    assert loop["span_id"] == _by_name(spans, "execute_tool search")[-1].span_id
