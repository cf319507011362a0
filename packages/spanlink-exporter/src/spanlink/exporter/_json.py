"""OTLP/JSON encoding of SDK spans, built directly from the spans.

Follows the OTLP/JSON rules: trace and span ids as lowercase hex strings, lowerCamelCase
field names, enums as integers, 64-bit integers as decimal strings, ``bytes`` values as
base64, non-finite doubles as ``"NaN"``/``"Infinity"``/``"-Infinity"``, default values
omitted. Each span is one ``json.dumps`` call over plain dicts (the C encoder does the
escaping); groups are joined as byte strings so a batch can be split without re-encoding.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link

from spanlink.exporter._protobuf import _items, _trace_state
from spanlink.exporter._wire import utf8

__all__ = ["JsonEncoder"]

_logger = logging.getLogger("spanlink.exporter")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_CACHE_LIMIT = 4096
_CACHEABLE_STR_LEN = 64
_FLAGS_LOCAL = 0x100
_FLAGS_REMOTE = 0x300
_EMPTY_SCOPE = b'{"scope":{},"spans":['
_CLOSE = b"]}"


class JsonEncoder:
    """Encodes spans to OTLP/JSON (``ExportTraceServiceRequest``) pieces.

    Same shape as :class:`~spanlink.exporter._protobuf.ProtobufEncoder`: group headers are
    the opening of a ``resourceSpans``/``scopeSpans`` object, members are spans, and
    ``assemble()`` adds commas and closing brackets.
    """

    content_type = "application/json"

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, type, Any], dict[str, Any]] = {}

    def request_overhead(self) -> int:
        """Bytes of ``{"resourceSpans":[`` and ``]}``."""
        return len(b'{"resourceSpans":[]}')

    def group_overhead(self, header: bytes) -> int:
        """A group's header, its closing ``]}`` and a separating comma."""
        return len(header) + 3

    def member_overhead(self) -> int:
        """The comma between two spans."""
        return 1

    def resource(self, resource: Resource | None) -> bytes:
        """Opening of a ``resourceSpans`` entry, up to its ``scopeSpans`` list."""
        body: dict[str, Any] = {}
        if resource is not None and resource.attributes:
            body["attributes"] = self._attributes(resource.attributes)
        head = '{"resource":' + _dumps(body)
        if resource is not None and resource.schema_url:
            head += ',"schemaUrl":' + _dumps(resource.schema_url)
        return utf8(head + ',"scopeSpans":[')

    def scope(self, scope: InstrumentationScope | None) -> bytes:
        """Opening of a ``scopeSpans`` entry, up to its ``spans`` list."""
        if scope is None:
            return _EMPTY_SCOPE
        body: dict[str, Any] = {}
        if scope.name:
            body["name"] = scope.name
        if scope.version:
            body["version"] = scope.version
        if scope.attributes:
            body["attributes"] = self._attributes(scope.attributes)
        head = '{"scope":' + _dumps(body)
        if scope.schema_url:
            head += ',"schemaUrl":' + _dumps(scope.schema_url)
        return utf8(head + ',"spans":[')

    def span(self, span: ReadableSpan) -> bytes:
        """One span as a JSON object."""
        ctx = span.get_span_context()
        if ctx is None:
            raise ValueError(f"span {span.name!r} has no span context")
        out: dict[str, Any] = {"traceId": f"{ctx.trace_id:032x}", "spanId": f"{ctx.span_id:016x}"}
        if ctx.trace_state:
            out["traceState"] = _trace_state(ctx.trace_state)
        parent = span.parent
        if parent is not None:
            out["parentSpanId"] = f"{parent.span_id:016x}"
        out["flags"] = _FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL
        if span.name:
            out["name"] = span.name
        out["kind"] = span.kind.value + 1
        if span.start_time:
            out["startTimeUnixNano"] = str(span.start_time)
        if span.end_time:
            out["endTimeUnixNano"] = str(span.end_time)
        attributes = getattr(span, "_attributes", None) or span.attributes
        if attributes:
            out["attributes"] = self._attributes(attributes)
        if span.dropped_attributes:
            out["droppedAttributesCount"] = span.dropped_attributes
        events = span.events
        if events:
            out["events"] = [self._event(event) for event in events]
        if span.dropped_events:
            out["droppedEventsCount"] = span.dropped_events
        links = span.links
        if links:
            out["links"] = [self._link(link) for link in links]
        if span.dropped_links:
            out["droppedLinksCount"] = span.dropped_links
        status = span.status
        status_out: dict[str, Any] = {}
        if status.description:
            status_out["message"] = status.description
        if status.status_code.value:
            status_out["code"] = status.status_code.value
        out["status"] = status_out
        return utf8(_dumps(out))

    def assemble(
        self, groups: Sequence[tuple[bytes, Sequence[tuple[bytes, Sequence[bytes]]]]]
    ) -> bytes:
        """A request body from ``[(resource header, [(scope header, [span, ...]), ...]), ...]``."""
        resources = []
        for resource_header, scopes in groups:
            scope_parts = [
                scope_header + b",".join(spans) + _CLOSE for scope_header, spans in scopes
            ]
            resources.append(resource_header + b",".join(scope_parts) + _CLOSE)
        return b'{"resourceSpans":[' + b",".join(resources) + _CLOSE

    def _event(self, event: Event) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if event.timestamp:
            out["timeUnixNano"] = str(event.timestamp)
        if event.name:
            out["name"] = event.name
        if event.attributes:
            out["attributes"] = self._attributes(event.attributes)
        if event.dropped_attributes:
            out["droppedAttributesCount"] = event.dropped_attributes
        return out

    def _link(self, link: Link) -> dict[str, Any]:
        ctx = link.context
        out: dict[str, Any] = {"traceId": f"{ctx.trace_id:032x}", "spanId": f"{ctx.span_id:016x}"}
        if ctx.trace_state:
            out["traceState"] = _trace_state(ctx.trace_state)
        if link.attributes:
            out["attributes"] = self._attributes(link.attributes)
        if link.dropped_attributes:
            out["droppedAttributesCount"] = link.dropped_attributes
        out["flags"] = _FLAGS_REMOTE if ctx.is_remote else _FLAGS_LOCAL
        return out

    def _attributes(self, attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``KeyValue`` objects; a value of an unknown type is skipped."""
        pairs = self._pairs
        out = []
        for key, value in _items(attributes):
            kind = type(value)
            if kind is str:
                if len(value) > _CACHEABLE_STR_LEN:
                    out.append({"key": key, "value": {"stringValue": value}})
                    continue
            elif kind is not bool and kind is not int:
                try:
                    out.append({"key": key, "value": _any_value(value)})
                except TypeError as error:
                    _logger.warning("attribute %r not exported: %s", key, error)
                continue
            # Short repeated values: the same (never mutated) dict is reused across spans.
            cache_key = (key, kind, value)
            pair = pairs.get(cache_key)
            if pair is None:
                pair = {"key": key, "value": _any_value(value)}
                if len(pairs) >= _CACHE_LIMIT:
                    pairs.clear()
                pairs[cache_key] = pair
            out.append(pair)
        return out


def _any_value(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}  # beyond int64: keep every digit
    if kind is float:
        if math.isfinite(value):
            return {"doubleValue": value}
        return {
            "doubleValue": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        }
    if value is None:
        return {}
    if isinstance(value, bool):
        return _any_value(bool(value))
    if isinstance(value, str):
        return _any_value(str(value))
    if isinstance(value, int):
        return _any_value(int(value))
    if isinstance(value, float):
        return _any_value(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        values = [{"key": str(k), "value": _any_value(v)} for k, v in value.items()]
        return {"kvlistValue": {"values": values}}
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")
