"""The plugins inside an application: ``SpanlinkProcessor(enrich=True)`` writes their scalar
span results onto each span before the stock OpenTelemetry exporter sees it."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer._processor import SpanlinkProcessor

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
    "gen_ai.usage.cache_read.input_tokens": 400,
}


def _export(plugin_context: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(exporter), enrich=True, plugin_context=plugin_context
        )
    )
    tracer = provider.get_tracer("tests.plugins")
    with tracer.start_as_current_span("chat gpt-4o", attributes=CHAT):
        pass
    with tracer.start_as_current_span(
        "chat empty", attributes={**CHAT, "gen_ai.usage.output_tokens": 0}
    ):
        pass
    with tracer.start_as_current_span("format_answer"):
        pass
    provider.shutdown()
    return {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}


def test_cost_and_anomaly_attributes_are_on_the_exported_spans() -> None:
    spans = _export()
    chat = spans["chat gpt-4o"]
    assert chat["spanlink.cost.status"] == "ok"
    assert chat["spanlink.cost.model"] == "gpt-4o-2024-08-06"
    assert chat["spanlink.cost.total_cost"] == pytest.approx(0.007)
    assert chat["spanlink.cost.cache_read_cost"] == pytest.approx(0.0005)
    assert chat["spanlink.cost.currency"] == "USD"
    assert not any(key.startswith("spanlink.anomaly.") for key in chat)
    empty = spans["chat empty"]
    assert empty["spanlink.anomaly.rules"] == "empty_output"
    assert empty["spanlink.anomaly.count"] == 1
    assert empty["spanlink.anomaly.worst_severity"] == "warning"
    assert not any(key.startswith("spanlink.") for key in spans["format_answer"])


def test_in_process_price_overrides() -> None:
    context = {"prices": {"gpt-4o*": {"input": 1e-06, "output": 1e-06}}}
    chat = _export(context)["chat gpt-4o"]
    assert chat["spanlink.cost.price_source"] == "project"
    assert chat["spanlink.cost.total_cost"] == pytest.approx(1500 * 1e-06)
