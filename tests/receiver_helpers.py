"""Builders of OTLP export requests for the receiver tests (imported as ``receiver_helpers``)."""

from __future__ import annotations

import base64
import gzip
import os
import time
import zlib
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

NOW = time.time_ns()


def trace_id() -> bytes:
    return os.urandom(16)


def span_id() -> bytes:
    return os.urandom(8)


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
        return out
    raise TypeError(value)


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def make_span(
    tid: bytes,
    sid: bytes,
    parent: bytes = b"",
    name: str = "op",
    start: int | None = None,
    duration_ns: int = 1_000_000,
    attributes: dict[str, Any] | None = None,
    kind: int = Span.SPAN_KIND_INTERNAL,
    error: str | None = None,
    events: list[tuple[str, int, dict[str, Any]]] | None = None,
    links: list[tuple[bytes, bytes, dict[str, Any]]] | None = None,
) -> Span:
    start = NOW if start is None else start
    span = Span(
        trace_id=tid,
        span_id=sid,
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
    )
    span.attributes.extend(kv(k, v) for k, v in (attributes or {}).items())
    if error is not None:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    for event_name, at, attrs in events or ():
        event = span.events.add(name=event_name, time_unix_nano=at)
        event.attributes.extend(kv(k, v) for k, v in attrs.items())
    for link_tid, link_sid, attrs in links or ():
        link = span.links.add(trace_id=link_tid, span_id=link_sid)
        link.attributes.extend(kv(k, v) for k, v in attrs.items())
    return span


def make_request(
    spans: list[Span],
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str] = ("tests", "1.0"),
) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(
        kv(k, v) for k, v in (resource or {"service.name": "svc"}).items()
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = scope
    scope_spans.spans.extend(spans)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def to_json(request: ExportTraceServiceRequest, hex_ids: bool = True) -> dict[str, Any]:
    """OTLP JSON (hex ids, as the spec says) or the plain protobuf JSON mapping (base64)."""
    document = json_format.MessageToDict(request)
    if hex_ids:
        for resource_spans in document.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    for holder in [span, *span.get("links", [])]:
                        for key in ("traceId", "spanId", "parentSpanId"):
                            if key in holder:
                                holder[key] = base64.b64decode(holder[key]).hex()
    return document


def post_proto(
    client: httpx.Client,
    request: ExportTraceServiceRequest | bytes,
    encoding: str | None = None,
    path: str = "/v1/traces",
    precompressed: bool = False,
) -> httpx.Response:
    body = request if isinstance(request, bytes) else request.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    if precompressed:
        pass
    elif encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    if encoding:
        headers["Content-Encoding"] = encoding
    return client.post(path, content=body, headers=headers)


def count_rows(database_url: str, project_id: int, table: str = "spans") -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            f"SELECT count(*) FROM {table} WHERE project_id = %s", (project_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def stock_provider(
    receiver_url: str, api_key: str, resource: Resource | None = None, **options: Any
) -> TracerProvider:
    """A tracer provider of its own (never the global one) sending each span to the receiver
    with the stock OTLP/HTTP exporter (``options`` are the exporter's): no spanlink code."""
    provider = TracerProvider(resource=resource or Resource.create())
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver_url}/v1/traces",
        headers={"Authorization": f"Bearer {api_key}"},
        **options,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
