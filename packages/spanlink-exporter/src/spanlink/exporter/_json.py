"""OTLP/JSON encoding of SDK spans, built directly from the spans.

Follows the OTLP/JSON rules: trace and span ids as lowercase hex strings, lowerCamelCase
field names, enums as integers, 64-bit integers as decimal strings, ``bytes`` values as
base64, non-finite doubles as ``"NaN"``/``"Infinity"``/``"-Infinity"``, default values
omitted. Each span is JSON text built directly (strings escaped by the C
``encode_basestring``, no intermediate dicts); groups are joined as byte strings so a batch
can be split without re-encoding.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanKind

from spanlink.exporter._protobuf import _items, _trace_state
from spanlink.exporter._wire import utf8
from spanlink.tracer.support import INT64_MAX, INT64_MIN

__all__ = ["JsonEncoder"]

_logger = logging.getLogger("spanlink.exporter")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_CACHE_LIMIT = 4096
_CACHEABLE_STR_LEN = 64
_FLAGS_LOCAL = ',"flags":256'
_FLAGS_REMOTE = ',"flags":768'
_KIND = {kind: f',"kind":{kind.value + 1}' for kind in SpanKind}
#: JSON string literal of a str (C implementation; non-ASCII kept as is).
_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
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
        self._pairs: dict[tuple[str, type, Any], str] = {}
        self._keys: dict[str, str] = {}

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
        head = '{"resource":{'
        if resource is not None and resource.attributes:
            head += '"attributes":[' + self._attributes(resource.attributes) + "]"
        head += "}"
        if resource is not None and resource.schema_url:
            head += ',"schemaUrl":' + _string(resource.schema_url)
        return utf8(head + ',"scopeSpans":[')

    def scope(self, scope: InstrumentationScope | None) -> bytes:
        """Opening of a ``scopeSpans`` entry, up to its ``spans`` list."""
        if scope is None:
            return _EMPTY_SCOPE
        fields = []
        if scope.name:
            fields.append('"name":' + _string(scope.name))
        if scope.version:
            fields.append('"version":' + _string(scope.version))
        if scope.attributes:
            fields.append('"attributes":[' + self._attributes(scope.attributes) + "]")
        head = '{"scope":{' + ",".join(fields) + "}"
        if scope.schema_url:
            head += ',"schemaUrl":' + _string(scope.schema_url)
        return utf8(head + ',"spans":[')

    def span(self, span: ReadableSpan) -> bytes:
        """One span as a JSON object."""
        ctx = span.get_span_context()
        if ctx is None:
            raise ValueError(f"span {span.name!r} has no span context")
        out = [f'{{"traceId":"{ctx.trace_id:032x}","spanId":"{ctx.span_id:016x}"']
        if ctx.trace_state:
            out.append(',"traceState":' + _string(_trace_state(ctx.trace_state)))
        parent = span.parent
        if parent is not None:
            out.append(f',"parentSpanId":"{parent.span_id:016x}"')
            out.append(_FLAGS_REMOTE if parent.is_remote else _FLAGS_LOCAL)
        else:
            out.append(_FLAGS_LOCAL)
        if span.name:
            out.append(',"name":' + _string(span.name))
        out.append(_KIND[span.kind])
        if span.start_time:
            out.append(f',"startTimeUnixNano":"{span.start_time}"')
        if span.end_time:
            out.append(f',"endTimeUnixNano":"{span.end_time}"')
        # The SDK's own mapping, when present, skips a MappingProxyType wrapper (see _items).
        attributes = getattr(span, "_attributes", None) or span.attributes
        if attributes:
            out.append(',"attributes":[' + self._attributes(attributes) + "]")
        if span.dropped_attributes:
            out.append(f',"droppedAttributesCount":{span.dropped_attributes}')
        events = span.events
        if events:
            out.append(',"events":[' + ",".join([self._event(e) for e in events]) + "]")
        if span.dropped_events:
            out.append(f',"droppedEventsCount":{span.dropped_events}')
        links = span.links
        if links:
            out.append(',"links":[' + ",".join([self._link(link) for link in links]) + "]")
        if span.dropped_links:
            out.append(f',"droppedLinksCount":{span.dropped_links}')
        status = span.status
        code = status.status_code.value
        if status.description:
            out.append(',"status":{"message":' + _string(status.description))
            out.append(f',"code":{code}}}}}' if code else "}}")
        else:
            out.append(f',"status":{{"code":{code}}}}}' if code else ',"status":{}}')
        return utf8("".join(out))

    def assemble(
        self, groups: Sequence[tuple[bytes, Sequence[tuple[bytes, Sequence[bytes]]]]]
    ) -> bytes:
        """A request body from ``[(resource header, [(scope header, [span, ...]), ...]), ...]``."""
        resources = []
        for resource_header, scopes in groups:
            scope_parts = [header + b",".join(spans) + _CLOSE for header, spans in scopes]
            resources.append(resource_header + b",".join(scope_parts) + _CLOSE)
        return b'{"resourceSpans":[' + b",".join(resources) + _CLOSE

    def _event(self, event: Event) -> str:
        fields = []
        if event.timestamp:
            fields.append(f'"timeUnixNano":"{event.timestamp}"')
        if event.name:
            fields.append('"name":' + _string(event.name))
        if event.attributes:
            fields.append('"attributes":[' + self._attributes(event.attributes) + "]")
        if event.dropped_attributes:
            fields.append(f'"droppedAttributesCount":{event.dropped_attributes}')
        return "{" + ",".join(fields) + "}"

    def _link(self, link: Link) -> str:
        ctx = link.context
        out = f'{{"traceId":"{ctx.trace_id:032x}","spanId":"{ctx.span_id:016x}"'
        if ctx.trace_state:
            out += ',"traceState":' + _string(_trace_state(ctx.trace_state))
        if link.attributes:
            out += ',"attributes":[' + self._attributes(link.attributes) + "]"
        if link.dropped_attributes:
            out += f',"droppedAttributesCount":{link.dropped_attributes}'
        return out + (',"flags":768}' if ctx.is_remote else ',"flags":256}')

    def _attributes(self, attributes: Mapping[str, Any]) -> str:
        """``KeyValue`` objects, comma-separated; a value of an unknown type is skipped."""
        pairs = self._pairs
        keys = self._keys
        out: list[str] = []
        append = out.append
        for key, value in _items(attributes):
            kind = type(value)
            if (kind is str and len(value) <= _CACHEABLE_STR_LEN) or kind is bool:
                # Short repeated values (model names, operation names, flags): encoded once.
                cache_key = (key, kind, value)
                pair = pairs.get(cache_key)
                if pair is None:
                    pair = '{"key":' + _string(key) + ',"value":' + _scalar(value) + "}"
                    if len(pairs) >= _CACHE_LIMIT:
                        pairs.clear()
                    pairs[cache_key] = pair
                append(pair)
                continue
            prefix = keys.get(key)
            if prefix is None:
                prefix = '{"key":' + _string(key) + ',"value":'
                if len(keys) >= _CACHE_LIMIT:
                    keys.clear()
                keys[key] = prefix
            if kind is str:
                append(prefix + '{"stringValue":' + _string(value) + "}}")
            elif kind is int and INT64_MIN <= value <= INT64_MAX:
                append(f'{prefix}{{"intValue":"{value}"}}}}')
            else:
                try:
                    append(prefix + _value(value) + "}")
                except (TypeError, ValueError) as error:
                    _logger.warning("attribute %r not exported: %s", key, error)
        return ",".join(out)


def _scalar(value: str | bool | int) -> str:
    """An ``AnyValue`` for an exact ``str``, ``bool`` or ``int``."""
    if isinstance(value, str):
        return '{"stringValue":' + _string(value) + "}"
    if type(value) is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if INT64_MIN <= value <= INT64_MAX:
        return f'{{"intValue":"{value:d}"}}'
    return f'{{"stringValue":"{value:d}"}}'  # beyond int64: keep every digit


def _value(value: Any) -> str:
    """An ``AnyValue`` for any other attribute value."""
    if type(value) is float and math.isfinite(value):
        return '{"doubleValue":' + repr(value) + "}"
    if type(value) is int:
        return _scalar(value)
    return _dumps(_any_value(value))


def _any_value(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
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
    for scalar in (bool, str, int, float):  # subclasses (an IntEnum...) as their base type
        if isinstance(value, scalar):
            return _any_value(scalar(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        values = [{"key": str(k), "value": _any_value(v)} for k, v in value.items()]
        return {"kvlistValue": {"values": values}}
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")
