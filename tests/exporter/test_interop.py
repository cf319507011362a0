"""Interop: the stock OTLP/HTTP exporter and ours send the same spans to the same receiver;
the decoded requests are equal span for span."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from spanlink.exporter import SpanlinkExporter


def _spans_by_id(request: Any) -> dict[tuple[bytes, bytes], tuple[Any, Any, Any, Any]]:
    out = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                out[(span.trace_id, span.span_id)] = (rs.resource, ss.scope, ss.schema_url, span)
    return out


def test_same_spans_same_decoded_request(receiver: Any, spans: list[Any]) -> None:
    stock = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", compression=Compression.Gzip)
    ours = SpanlinkExporter(receiver.url)
    try:
        assert stock.export(spans) is SpanExportResult.SUCCESS
        assert ours.export(spans) is SpanExportResult.SUCCESS
    finally:
        stock.shutdown()
        ours.shutdown()
    stock_request, our_request = (r.decode() for r in receiver.requests)
    assert [r.headers["content-type"] for r in receiver.requests] == ["application/x-protobuf"] * 2
    assert [r.path for r in receiver.requests] == ["/v1/traces"] * 2
    stock_spans, our_spans = _spans_by_id(stock_request), _spans_by_id(our_request)
    assert len(our_spans) == len(spans)
    assert stock_spans.keys() == our_spans.keys()
    for key, (resource, scope, schema_url, span) in stock_spans.items():
        assert our_spans[key] == (resource, scope, schema_url, span)
    assert our_request == stock_request  # and the grouping is the same too


def test_ours_inside_a_stock_batch_processor(receiver: Any) -> None:
    exporter = SpanlinkExporter(receiver.url)
    provider = TracerProvider(resource=Resource.create({"service.name": "bsp"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("app")
    for i in range(25):
        with tracer.start_as_current_span(f"op {i}") as span:
            span.set_attribute("i", i)
    assert provider.force_flush(10_000)
    provider.shutdown()  # shuts our exporter down too
    names = sorted(s.name for s in receiver.delivered_spans())
    assert names == sorted(f"op {i}" for i in range(25))
    assert exporter.stats().spans_exported == 25
