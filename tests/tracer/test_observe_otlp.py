"""Interop: what @observe records goes through the stock OTLP/HTTP exporter to a real
loopback HTTP server and decodes back intact (types, bounded content, GenAI attributes)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import observe, semconv

otlp_http = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")


class Collector(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind)


def test_observed_spans_survive_the_stock_otlp_exporter(
    spans: InMemorySpanExporter, collector: str
) -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    @observe.llm(model="gpt-4o", provider="openai")
    def chat(messages: list[dict[str, str]], extra: Any) -> dict[str, Any]:
        return {
            "id": "c-1",
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"message": {"role": "assistant", "content": "hé \ud800"}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        }

    @observe.tool(name="search")
    def search(query: str) -> list[str]:
        raise LookupError("index offline")

    chat([{"role": "user", "content": "x" * 50_000}], extra=BadRepr())
    with pytest.raises(LookupError):
        search("q")

    exporter = otlp_http.OTLPSpanExporter(endpoint=collector, timeout=10)
    try:
        assert exporter.export(spans.get_finished_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()

    request = trace_service.ExportTraceServiceRequest()
    request.ParseFromString(Collector.bodies[0])
    received = {
        span.name: (span, {kv.key: _value(kv.value) for kv in span.attributes})
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    }
    assert set(received) == {"chat gpt-4o", "execute_tool search"}
    chat_span, chat_attrs = received["chat gpt-4o"]
    assert chat_span.kind == chat_span.SPAN_KIND_CLIENT
    assert chat_attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert chat_attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert chat_attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert chat_attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert len(chat_attrs[semconv.SPANLINK_INPUT].encode()) <= 8192
    assert "repr failed" in chat_attrs[semconv.SPANLINK_INPUT]
    assert "hé" in chat_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]
    tool_span, tool_attrs = received["execute_tool search"]
    assert tool_span.status.code == tool_span.status.STATUS_CODE_ERROR
    assert tool_attrs[semconv.ERROR_TYPE] == "LookupError"
    assert tool_attrs[semconv.GEN_AI_TOOL_NAME] == "search"
    assert [event.name for event in tool_span.events] == ["exception"]
