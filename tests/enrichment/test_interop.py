"""Spans from the stock OpenTelemetry SDK and OTLP/HTTP exporter, in another convention
(OpenInference), are enriched from the normalized GenAI attributes."""

from __future__ import annotations

import httpx
import pytest
from enrichment_helpers import enrichment_of, poll
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import Status, StatusCode
from receiver_helpers import stock_provider


def test_stock_exporter_openinference_spans_are_priced(
    receiver, client: httpx.Client, api_key: str
) -> None:
    provider = stock_provider(
        receiver.url, api_key, Resource.create({"service.name": "bot"}), timeout=10
    )
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span("agent") as root:
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.model_name", "gpt-4o-mini")
            llm.set_attribute("llm.provider", "openai")
            llm.set_attribute("llm.token_count.prompt", 1200)
            llm.set_attribute("llm.token_count.completion", 80)
        with tracer.start_as_current_span("tool") as tool:
            tool.set_status(Status(StatusCode.ERROR, "timeout"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    tid = root.get_span_context().trace_id.to_bytes(16, "big")
    trace = poll(
        lambda: enrichment_of(client, tid),
        lambda t: t["enrichment"] is not None and t["enrichment"]["span_count"] == 3,
    )
    data = trace["enrichment"]["data"]
    cost = data["spans"][f"{llm.get_span_context().span_id:016x}"]["cost"]
    assert cost["status"] == "ok" and cost["model"] == "gpt-4o-mini"
    assert (cost["input_tokens"], cost["output_tokens"]) == (1200, 80)
    assert data["trace"]["cost"]["total_cost"] == pytest.approx(cost["total_cost"])
    assert data["trace"]["anomaly"]["counts"].get("error_span") == 1
