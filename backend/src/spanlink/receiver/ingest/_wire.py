"""Split an OTLP protobuf trace export at span boundaries before decoding any span.

Decoding a whole ``ExportTraceServiceRequest`` at once costs memory per message, not per
byte: 190 KB of gzip can hold 1.2 million tiny spans (~60 MB inflated, ~250 MB decoded,
~1 GB once turned into rows) and 20 MB of two-byte empty attributes decode into ~1 GB.
So the request is walked on the wire first (tags and lengths only, nothing copied):

- the spans are counted, and more than ``max_spans`` is refused (413) before any is decoded;
- a span, resource or scope larger than ``2 * max_values`` bytes (the least it takes to
  hold more than ``max_values`` nested messages) has its attributes, events, links and
  their array/kvlist elements counted, and more than ``max_values`` is refused (413);
- spans are then decoded one at a time as the rows are built (:func:`iter_wire_spans`), so
  at most one decoded span is alive at a time.

The walk touches only the few fields per span that frame it; the spans themselves are
decoded by protobuf's C implementation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spanlink.receiver.ingest._errors import BodyTooLarge, MalformedBody
from spanlink.receiver.ingest._records import attributes_from_otlp

__all__ = ["ScopeGroup", "WireRequest", "iter_wire_spans", "split_request", "too_many_spans"]


@dataclass(slots=True)
class ScopeGroup:
    """The spans of one ``ScopeSpans`` as ``(start, end)`` offsets into the body."""

    resource: dict[str, Any]
    scope: list[tuple[int, int]] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class WireRequest:
    """A protobuf export request, framed but not decoded (see :func:`split_request`)."""

    data: bytes
    groups: list[ScopeGroup]
    span_count: int


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise MalformedBody("body is not an OTLP protobuf trace export: bad varint")


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """``(field number, start, end)`` of every length-delimited field in ``data[pos:end]``."""
    while pos < end:
        key, pos = _varint(data, pos, end)
        wire = key & 7
        if wire == 2:
            length, pos = _varint(data, pos, end)
            stop = pos + length
            if stop > end:
                break
            yield key >> 3, pos, stop
            pos = stop
        elif wire == 0:
            _, pos = _varint(data, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:  # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
            raise MalformedBody(
                f"body is not an OTLP protobuf trace export: wire type {wire} at byte {pos}"
            )
        if pos > end:
            break
    if pos != end:
        raise MalformedBody("body is not an OTLP protobuf trace export: truncated message")


# Which fields of which message hold nested messages that cost memory once decoded:
# message kind -> {field number: kind of the nested message}.
_RESOURCE, _SCOPE, _SPAN, _EVENT, _LINK, _KV, _ANY, _ARRAY, _KVLIST, _LEAF = range(10)
_NESTED: dict[int, dict[int, int]] = {
    _RESOURCE: {1: _KV},
    _SCOPE: {3: _KV},
    _SPAN: {9: _KV, 11: _EVENT, 13: _LINK, 15: _LEAF},
    _EVENT: {3: _KV},
    _LINK: {5: _KV},
    _KV: {2: _ANY},
    _ANY: {5: _ARRAY, 6: _KVLIST},
    _ARRAY: {1: _ANY},
    _KVLIST: {1: _KV},
    _LEAF: {},
}


def _too_many_values(data: bytes, start: int, end: int, kind: int, limit: int) -> bool:
    """Whether ``data[start:end]`` (a message of ``kind``) nests more than ``limit`` messages."""
    if end - start <= 2 * limit:  # every nested message takes at least two bytes
        return False
    count = 0
    stack = [(kind, start, end)]
    while stack:
        kind, pos, stop = stack.pop()
        nested = _NESTED[kind]
        for number, child_start, child_end in _fields(data, pos, stop):
            child = nested.get(number)
            if child is None:
                continue
            count += 1
            if count > limit:
                return True
            if child_end > child_start and _NESTED[child]:
                stack.append((child, child_start, child_end))
    return False


def too_many_spans(max_spans: int) -> BodyTooLarge:
    """The 413 for a request with more than ``max_spans`` spans."""
    return BodyTooLarge(
        f"more than {max_spans} spans in one request: the limit is {max_spans} spans per "
        "request; send smaller batches"
    )


def _values_error(what: str, limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"{what} holds more than {limit} values (attributes, events, links and their array "
        f"or map elements); the limit is {limit} values per span, resource or scope"
    )


def _decode(message: Any, data: bytes, parts: list[tuple[int, int]]) -> Any:
    # A message field sent twice merges (protobuf semantics): decode the parts joined.
    view = memoryview(data)
    body = (
        view[parts[0][0] : parts[0][1]]
        if len(parts) == 1
        else b"".join(view[start:end] for start, end in parts)
    )
    try:
        return message.FromString(body)
    except (DecodeError, ValueError, RecursionError) as error:
        raise MalformedBody(f"body is not an OTLP protobuf trace export: {error}") from None


def _resource(data: bytes, parts: list[tuple[int, int]], max_values: int) -> dict[str, Any]:
    if not parts:
        return {}
    for start, end in parts:
        if _too_many_values(data, start, end, _RESOURCE, max_values):
            raise _values_error("a resource", max_values)
    return attributes_from_otlp(_decode(Resource, data, parts).attributes)


def split_request(data: bytes, max_spans: int, max_values: int) -> WireRequest:
    """Frame a protobuf ``ExportTraceServiceRequest`` (see the module docstring).

    Raises :class:`BodyTooLarge` past ``max_spans`` spans or ``max_values`` nested values in
    one span, resource or scope, :class:`MalformedBody` when the framing is broken.
    """
    groups: list[ScopeGroup] = []
    count = 0
    for number, rs_start, rs_end in _fields(data, 0, len(data)):
        if number != 1:  # ExportTraceServiceRequest.resource_spans
            continue
        resource_parts: list[tuple[int, int]] = []
        scopes: list[tuple[int, int]] = []
        for number, start, end in _fields(data, rs_start, rs_end):
            if number == 1:  # ResourceSpans.resource
                resource_parts.append((start, end))
            elif number == 2:  # ResourceSpans.scope_spans
                scopes.append((start, end))
        resource = _resource(data, resource_parts, max_values)
        for ss_start, ss_end in scopes:
            group = ScopeGroup(resource)
            for number, start, end in _fields(data, ss_start, ss_end):
                if number == 2:  # ScopeSpans.spans
                    count += 1
                    if count > max_spans:
                        raise too_many_spans(max_spans)
                    if _too_many_values(data, start, end, _SPAN, max_values):
                        raise _values_error(f"span #{count - 1}", max_values)
                    group.spans.append((start, end))
                elif number == 1:  # ScopeSpans.scope
                    if _too_many_values(data, start, end, _SCOPE, max_values):
                        raise _values_error("an instrumentation scope", max_values)
                    group.scope.append((start, end))
            groups.append(group)
    return WireRequest(data, groups, count)


def iter_wire_spans(request: WireRequest) -> Iterator[tuple[Span, dict[str, Any], str, str]]:
    """Every span with its resource attributes and scope name/version, decoded one by one."""
    data = request.data
    for group in request.groups:
        scope = _decode(InstrumentationScope, data, group.scope) if group.scope else None
        name = scope.name if scope is not None else ""
        version = scope.version if scope is not None else ""
        for start, end in group.spans:
            yield _decode(Span, data, [(start, end)]), group.resource, name, version
