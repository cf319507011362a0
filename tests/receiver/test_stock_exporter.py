"""Interop: the stock OpenTelemetry SDK and OTLP/HTTP exporter against a live receiver."""

from __future__ import annotations

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode


def test_stock_sdk_pipeline_round_trip(receiver, client: httpx.Client, api_key: str) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.url}/v1/traces",
        headers={"Authorization": f"Bearer {api_key}"},
        compression=Compression.Gzip,
        timeout=10,
    )
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "shop", "deployment.environment.name": "ci"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("interop", "2.0")
    with tracer.start_as_current_span("checkout") as root:
        root.set_attribute("gen_ai.request.model", "gpt-4o")
        root.set_attribute("gen_ai.usage.input_tokens", 11)
        root.set_attribute("tags", ["a", "b"])
        root.add_event("started", {"step": 1})
        with tracer.start_as_current_span("pay", links=[Link(root.get_span_context())]) as pay:
            pay.set_status(Status(StatusCode.ERROR, "card declined"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    finished = {span.name: span for span in memory.get_finished_spans()}
    trace_hex = f"{root.get_span_context().trace_id:032x}"
    trace = client.get(f"/api/v1/traces/{trace_hex}", params={"full": "true"}).json()
    stored = {span["name"]: span for span in trace["spans"]}
    assert set(stored) == {"checkout", "pay"}
    for name, sdk_span in finished.items():
        span = stored[name]
        assert span["span_id"] == f"{sdk_span.context.span_id:016x}"
        assert span["start_time_unix_nano"] == sdk_span.start_time
        assert span["end_time_unix_nano"] == sdk_span.end_time
    assert stored["checkout"]["attributes"]["tags"] == ["a", "b"]
    assert stored["checkout"]["events"][0]["attributes"] == {"step": 1}
    assert stored["checkout"]["resource"]["service.name"] == "shop"
    assert stored["pay"]["status_code"] == "ERROR"
    assert stored["pay"]["status_message"] == "card declined"
    assert stored["pay"]["links"][0]["span_id"] == stored["checkout"]["span_id"]
    row = client.get("/api/v1/traces", params={"environment": "ci"}).json()["items"][0]
    assert (row["trace_id"], row["service_name"], row["error_count"]) == (trace_hex, "shop", 1)


def test_stock_exporter_reports_failure_on_a_bad_key(receiver) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.url}/v1/traces", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.FAILURE
    exporter.shutdown()
