"""Decode OTLP/HTTP trace export bodies: content types, encodings, bounded decompression.

Accepts ``application/x-protobuf`` and ``application/json`` (OTLP JSON: hex ids and
lowerCamelCase names; base64 ids as the protobuf JSON mapping writes them are accepted too),
with ``Content-Encoding`` ``gzip``, ``deflate`` or none. Decompression stops as soon as the
output would exceed the limit, so a small compressed body cannot exhaust memory.
"""

from __future__ import annotations

import base64
import enum
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spanlink.receiver.ingest._errors import (
    BodyTooLarge,
    MalformedBody,
    OTLPError,
    UnsupportedMediaType,
)
from spanlink.receiver.ingest._wire import WireRequest, split_request, too_many_spans

__all__ = [
    "DEFAULT_MAX_SPANS",
    "DEFAULT_MAX_VALUES",
    "BodyTooLarge",
    "Encoding",
    "MalformedBody",
    "OTLPError",
    "UnsupportedMediaType",
    "decode_request",
    "decompress",
    "encode_response",
    "parse_content_type",
]

_CHUNK = 64 * 1024


class Encoding(enum.Enum):
    """The wire format of a request, and so of its response."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


_CONTENT_TYPES = {
    "application/x-protobuf": Encoding.PROTOBUF,
    "application/protobuf": Encoding.PROTOBUF,
    "application/json": Encoding.JSON,
}


def parse_content_type(content_type: str | None) -> Encoding:
    """The encoding named by a ``Content-Type`` header (parameters ignored), or 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return _CONTENT_TYPES[media]
    except KeyError:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media or '(none)'!r}: send application/x-protobuf "
            "or application/json"
        ) from None


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    out = bytearray()
    data = body
    while True:
        decompressor = zlib.decompressobj(wbits)
        while not decompressor.eof:
            # max_length bounds each step; input not yet consumed waits in unconsumed_tail.
            chunk = decompressor.decompress(data, _CHUNK)
            out += chunk
            if len(out) > limit:
                raise BodyTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
            data = decompressor.unconsumed_tail
            if not chunk and not data:
                raise zlib.error("truncated compressed stream")
        data = decompressor.unused_data
        # gzip bodies may hold several members one after another (RFC 1952); zlib cannot.
        if not data or wbits != 16 + zlib.MAX_WBITS:
            return bytes(out)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, identity), never producing more than ``limit``."""
    encoding = (content_encoding or "identity").strip().lower()
    try:
        if encoding in ("", "identity"):
            result = body
        elif encoding in ("gzip", "x-gzip"):
            result = _inflate(body, 16 + zlib.MAX_WBITS, limit)
        elif encoding == "deflate":
            # RFC 9110 "deflate" is the zlib format; some clients send raw deflate.
            try:
                result = _inflate(body, zlib.MAX_WBITS, limit)
            except zlib.error:
                result = _inflate(body, -zlib.MAX_WBITS, limit)
        else:
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {encoding!r}: send gzip, deflate or none"
            )
    except zlib.error as error:
        raise MalformedBody(f"body is not valid {encoding} data: {error}") from None
    if len(result) > limit:
        raise BodyTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    return result


# OTLP JSON writes ids as hex; the protobuf JSON mapping (which ParseDict implements) as
# base64. Ids are rewritten to base64 before parsing; the lengths tell the forms apart.
_ID_HEX_LENGTHS = {32, 16}


def _id_to_base64(value: Any) -> Any:
    if isinstance(value, str) and len(value) in _ID_HEX_LENGTHS:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except ValueError:
            return value  # not hex: leave it for the base64 parser to judge
    return value


def _fix_ids(holder: Any, names: tuple[str, ...]) -> None:
    if isinstance(holder, dict):
        for name in names:
            if name in holder:
                holder[name] = _id_to_base64(holder[name])


def _items(holder: Any, *names: str) -> list[Any]:
    if not isinstance(holder, dict):
        return []
    for name in names:
        value = holder.get(name)
        if isinstance(value, list):
            return value
    return []


_SPAN_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


def _rewrite_json_ids(document: Any) -> None:
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _fix_ids(span, _SPAN_ID_FIELDS)
                for link in _items(span, "links"):
                    _fix_ids(link, _SPAN_ID_FIELDS)


def _json_span_count(document: Any) -> int:
    return sum(
        len(_items(scope_spans, "spans"))
        for resource_spans in _items(document, "resourceSpans", "resource_spans")
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans")
    )


#: JSON objects allowed per span of the span cap, on average over a request (a span with
#: 20 attributes is ~45 objects; 512 such spans are far below the budget).
_JSON_OBJECTS_PER_SPAN = 50


def _load_json(data: bytes, max_objects: int) -> Any:
    """``json.loads`` with at most ``max_objects`` objects decoded (memory grows per object:
    64 MB of ``{},`` would be 21 million dicts). Counting ``{`` bounds the objects from
    above at C speed; only a body over the budget by that count is parsed with a hook that
    counts exactly and stops at the budget."""
    if data.count(b"{") <= max_objects:
        return json.loads(data)
    seen = 0

    def counted(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen > max_objects:
            raise BodyTooLarge(
                f"JSON body holds more than {max_objects} objects (the limit: "
                f"{_JSON_OBJECTS_PER_SPAN} per span of the spans-per-request limit); "
                "send smaller batches"
            )
        return dict(pairs)

    return json.loads(data, object_pairs_hook=counted)


def _parse_json(data: bytes, max_spans: int) -> bytes:
    """OTLP JSON -> the protobuf wire form of the same request."""
    try:
        document = _load_json(data, max_spans * _JSON_OBJECTS_PER_SPAN)
    except (ValueError, RecursionError) as error:
        if isinstance(error, BodyTooLarge):
            raise
        raise MalformedBody(f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedBody("body must be a JSON object with a resourceSpans list")
    if _json_span_count(document) > max_spans:  # before any protobuf message is built
        raise too_many_spans(max_spans)
    _rewrite_json_ids(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
        del document
        # The wire form rejects what JSON allows but protobuf does not (lone surrogates in
        # strings) when it is decoded again, span by span.
        wire: bytes = request.SerializeToString()
        return wire
    except (json_format.ParseError, DecodeError, ValueError, TypeError, RecursionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MalformedBody(f"body is not an OTLP JSON trace export: {message}") from None


#: Defaults of :func:`decode_request`'s limits (the receiver passes its settings).
DEFAULT_MAX_SPANS = 20_000
DEFAULT_MAX_VALUES = 100_000


def decode_request(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_decompressed: int,
    max_spans: int = DEFAULT_MAX_SPANS,
    max_values: int = DEFAULT_MAX_VALUES,
) -> tuple[WireRequest, Encoding]:
    """Decode a ``/v1/traces`` body; raises :class:`OTLPError` subclasses with the reason.

    The result is framed, not decoded: spans are decoded one at a time as rows are built
    (``_wire``). More than ``max_spans`` spans, or more than ``max_values`` nested values in
    one span, resource or scope, is :class:`BodyTooLarge` (413).
    """
    encoding = parse_content_type(content_type)
    data = decompress(body, content_encoding, max_decompressed)
    if encoding is Encoding.JSON:
        data = _parse_json(data, max_spans)
    return split_request(data, max_spans, max_values), encoding


def encode_response(encoding: Encoding, rejected_spans: int = 0, error_message: str = "") -> bytes:
    """An ``ExportTraceServiceResponse`` in the request's encoding (partial success if any)."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected_spans, error_message=error_message)
        )
    if encoding is Encoding.JSON:
        return json.dumps(json_format.MessageToDict(response)).encode()
    wire: bytes = response.SerializeToString()
    return wire
