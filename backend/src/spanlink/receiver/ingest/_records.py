"""Conversions to :class:`spanlink.tracer.model.SpanRecord`, the only span type plugins see.

One place turns OTLP protobuf spans and stored ``spans`` rows into ``SpanRecord``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from spanlink.tracer.model import SpanEvent, SpanLink, SpanRecord

__all__ = [
    "KIND_NAMES",
    "STATUS_NAMES",
    "any_value",
    "attributes_from_otlp",
    "iter_otlp_spans",
    "span_record_from_otlp",
    "span_record_from_row",
]

#: OTLP ``Span.SpanKind`` numbers -> the names ``SpanRecord.kind`` uses.
KIND_NAMES: dict[int, str] = {
    Span.SPAN_KIND_UNSPECIFIED: "INTERNAL",
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
#: OTLP ``Status.StatusCode`` numbers -> the names ``SpanRecord.status_code`` uses.
STATUS_NAMES: dict[int, str] = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as plain Python (bytes become base64 text, as in OTLP JSON)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes_from_otlp(attributes: Iterator[KeyValue] | Any) -> dict[str, Any]:
    """OTLP ``repeated KeyValue`` as a dict (a repeated key keeps its last value)."""
    return {kv.key: any_value(kv.value) for kv in attributes}


def span_record_from_otlp(
    span: Span,
    resource: Mapping[str, Any],
    scope_name: str | None = None,
    scope_version: str | None = None,
) -> SpanRecord:
    """One OTLP span (with its resource and scope) as a ``SpanRecord``; ids become hex."""
    return SpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() if span.parent_span_id else None,
        name=span.name,
        kind=KIND_NAMES.get(span.kind, "INTERNAL"),
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
        status_code=STATUS_NAMES.get(span.status.code, "UNSET"),
        status_message=span.status.message or None,
        attributes=attributes_from_otlp(span.attributes),
        events=[
            SpanEvent(event.name, event.time_unix_nano, attributes_from_otlp(event.attributes))
            for event in span.events
        ],
        links=[
            SpanLink(link.trace_id.hex(), link.span_id.hex(), attributes_from_otlp(link.attributes))
            for link in span.links
        ],
        resource=dict(resource),
        scope_name=scope_name or None,
        scope_version=scope_version or None,
    )


def iter_otlp_spans(
    request: ExportTraceServiceRequest,
) -> Iterator[tuple[Span, dict[str, Any], str, str]]:
    """Every span of an export request with its resource attributes and scope name/version."""
    for resource_spans in request.resource_spans:
        resource = attributes_from_otlp(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                yield span, resource, scope.name, scope.version


def span_record_from_row(row: Mapping[str, Any]) -> SpanRecord:
    """A stored ``spans`` row (as a mapping of column -> value) as a ``SpanRecord``."""
    return SpanRecord(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        name=row["name"],
        kind=row["kind"],
        start_time_unix_nano=int(row["start_ns"]),
        end_time_unix_nano=int(row["end_ns"]),
        status_code=row["status_code"],
        status_message=row["status_message"],
        attributes=dict(row["attributes"] or {}),
        events=[
            SpanEvent(e.get("name", ""), int(e.get("time_unix_nano", 0)), e.get("attributes", {}))
            for e in row["events"] or ()
        ],
        links=[
            SpanLink(l.get("trace_id", ""), l.get("span_id", ""), l.get("attributes", {}))
            for l in row["links"] or ()  # noqa: E741
        ],
        resource=dict(row["resource"] or {}),
        scope_name=row["scope_name"],
        scope_version=row["scope_version"],
    )
