"""OTLP protobuf encoding of SDK spans, written directly in wire format.

The output decodes with ``opentelemetry-proto`` to the same ``ExportTraceServiceRequest`` the
stock encoder builds (same grouping, same span flags, same status handling), but no message
objects are created: each span becomes one ``bytes`` value that is then framed into its
resource and scope groups. Encoded attribute pairs with short repeated values (model names,
operation names, booleans, small integers) are cached, since they recur across spans.
"""

from __future__ import annotations

import logging
import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanKind

from spanlink.exporter._wire import encode_varint, len_field, pack_double, pack_fixed64, utf8
from spanlink.tracer.support import INT64_MAX, INT64_MIN

__all__ = ["ProtobufEncoder"]

_logger = logging.getLogger("spanlink.exporter")

_pack_fixed32 = struct.Struct("<I").pack
_CACHE_LIMIT = 4096
_CACHEABLE_STR_LEN = 64
_SMALL_LEN = tuple(bytes((n,)) for n in range(16))  # an int64 AnyValue is at most 11 bytes

# Span.kind (field 6): the OTLP enum is the SDK enum shifted by one (0 is UNSPECIFIED).
_KIND = {kind: b"\x30" + bytes((kind.value + 1,)) for kind in SpanKind}
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, plus ..._IS_REMOTE_MASK for a remote parent.
_FLAGS_LOCAL = b"\x85\x01" + _pack_fixed32(0x100)
_FLAGS_REMOTE = b"\x85\x01" + _pack_fixed32(0x300)
_LINK_FLAGS_LOCAL = b"\x35" + _pack_fixed32(0x100)
_LINK_FLAGS_REMOTE = b"\x35" + _pack_fixed32(0x300)


class ProtobufEncoder:
    """Encodes spans to OTLP protobuf (``ExportTraceServiceRequest``) pieces.

    ``span()`` returns a span already framed as a ``ScopeSpans.spans`` entry; ``resource()``
    and ``scope()`` return the group headers; ``assemble()`` joins groups into a request body.
    Not thread-safe: the exporter uses one encoder per calling thread or under a lock.
    """

    content_type = "application/x-protobuf"

    def __init__(self) -> None:
        self._pairs: dict[tuple[bytes, str, type, Any], bytes] = {}
        self._keys: dict[str, bytes] = {}

    # -- sizes used to split a batch without re-encoding ------------------------------------
    def request_overhead(self) -> int:
        """Bytes a request body has beyond its groups (none for protobuf)."""
        return 0

    def group_overhead(self, header: bytes) -> int:
        """Upper bound of the bytes a resource or scope group adds besides its members."""
        return len(header) + 6  # tag + a length varint of at most 5 bytes

    def member_overhead(self) -> int:
        """Bytes added per member besides its own encoding (none: members are pre-framed)."""
        return 0

    # -- pieces ------------------------------------------------------------------------------
    def resource(self, resource: Resource | None) -> bytes:
        """``ResourceSpans`` header: the resource and its schema URL."""
        if resource is None:
            return b"\x0a\x00"
        out = len_field(b"\x0a", self._attributes(b"\x0a", resource.attributes))
        if resource.schema_url:
            out += len_field(b"\x1a", utf8(resource.schema_url))
        return out

    def scope(self, scope: InstrumentationScope | None) -> bytes:
        """``ScopeSpans`` header: the instrumentation scope and its schema URL."""
        if scope is None:
            return b"\x0a\x00"
        body = b""
        if scope.name:
            body += len_field(b"\x0a", utf8(scope.name))
        if scope.version:
            body += len_field(b"\x12", utf8(scope.version))
        if scope.attributes:
            body += self._attributes(b"\x1a", scope.attributes)
        out = len_field(b"\x0a", body)
        if scope.schema_url:
            out += len_field(b"\x1a", utf8(scope.schema_url))
        return out

    def span(self, span: ReadableSpan) -> bytes:
        """One span, framed as a ``ScopeSpans.spans`` field."""
        ctx = span.get_span_context()
        if ctx is None:
            raise ValueError(f"span {span.name!r} has no span context")
        parts = [
            b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + ctx.span_id.to_bytes(8, "big"),
        ]
        if ctx.trace_state:
            parts.append(len_field(b"\x1a", utf8(_trace_state(ctx.trace_state))))
        parent = span.parent
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if span.name:
            parts.append(len_field(b"\x2a", utf8(span.name)))
        parts.append(_KIND[span.kind])
        if span.start_time:
            parts.append(b"\x39" + pack_fixed64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + pack_fixed64(span.end_time))
        # The SDK's own mapping, when present, skips a MappingProxyType wrapper (see _items).
        attributes = getattr(span, "_attributes", None) or span.attributes
        if attributes:
            parts.append(self._attributes(b"\x4a", attributes))
        if span.dropped_attributes:
            parts.append(b"\x50" + encode_varint(span.dropped_attributes))
        for event in span.events:
            parts.append(len_field(b"\x5a", self._event(event)))
        if span.dropped_events:
            parts.append(b"\x60" + encode_varint(span.dropped_events))
        for link in span.links:
            parts.append(len_field(b"\x6a", self._link(link)))
        if span.dropped_links:
            parts.append(b"\x70" + encode_varint(span.dropped_links))
        status = span.status
        status_body = b""
        if status.description:
            status_body = len_field(b"\x12", utf8(status.description))
        if status.status_code.value:
            status_body += b"\x18" + encode_varint(status.status_code.value)
        parts.append(len_field(b"\x7a", status_body))
        parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
        return len_field(b"\x12", b"".join(parts))

    def assemble(
        self, groups: Sequence[tuple[bytes, Sequence[tuple[bytes, Sequence[bytes]]]]]
    ) -> bytes:
        """A request body from ``[(resource header, [(scope header, [span, ...]), ...]), ...]``."""
        out = []
        for resource_header, scopes in groups:
            members = [resource_header]
            for scope_header, spans in scopes:
                members.append(len_field(b"\x12", scope_header + b"".join(spans)))
            out.append(len_field(b"\x0a", b"".join(members)))
        return b"".join(out)

    # -- helpers -----------------------------------------------------------------------------
    def _event(self, event: Event) -> bytes:
        body = b"\x09" + pack_fixed64(event.timestamp) if event.timestamp else b""
        if event.name:
            body += len_field(b"\x12", utf8(event.name))
        if event.attributes:
            body += self._attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            body += b"\x20" + encode_varint(event.dropped_attributes)
        return body

    def _link(self, link: Link) -> bytes:
        ctx = link.context
        body = b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big") + b"\x12\x08"
        body += ctx.span_id.to_bytes(8, "big")
        if ctx.trace_state:
            body += len_field(b"\x1a", utf8(_trace_state(ctx.trace_state)))
        if link.attributes:
            body += self._attributes(b"\x22", link.attributes)
        if link.dropped_attributes:
            body += b"\x28" + encode_varint(link.dropped_attributes)
        return body + (_LINK_FLAGS_REMOTE if ctx.is_remote else _LINK_FLAGS_LOCAL)

    def _attributes(self, tag: bytes, attributes: Mapping[str, Any]) -> bytes:
        """Repeated ``KeyValue`` fields under ``tag``; a value of an unknown type is skipped."""
        pairs = self._pairs
        keys = self._keys
        out: list[bytes] = []
        append = out.append
        for key, value in _items(attributes):
            kind = type(value)
            if kind is str and len(value) > _CACHEABLE_STR_LEN:
                # Long text (messages, prompts): frame it without copying the value twice.
                encoded_key = keys.get(key) or self._key(key)
                try:
                    value_bytes = value.encode()
                except UnicodeEncodeError:
                    value_bytes = utf8(value)
                n = len(value_bytes)
                any_len = 1 + len(encode_varint(n)) + n
                any_head = b"\x12" + encode_varint(any_len) + b"\x0a" + encode_varint(n)
                kv_len = len(encoded_key) + len(any_head) + n
                append(tag + encode_varint(kv_len) + encoded_key + any_head)
                append(value_bytes)
            elif kind is int and INT64_MIN <= value <= INT64_MAX:
                # Counts (tokens...) rarely repeat: encode directly, caching only the key.
                encoded_key = keys.get(key) or self._key(key)
                varint = encode_varint(value)
                any_len = 1 + len(varint)
                kv_len = len(encoded_key) + 2 + any_len
                append(
                    tag
                    + encode_varint(kv_len)
                    + encoded_key
                    + b"\x12"
                    + _SMALL_LEN[any_len]
                    + b"\x18"
                    + varint
                )
            elif kind is str or kind is bool:
                cache_key = (tag, key, kind, value)
                encoded = pairs.get(cache_key)
                if encoded is None:
                    encoded = len_field(tag, self._key_value(key, value))
                    if len(pairs) >= _CACHE_LIMIT:
                        pairs.clear()
                    pairs[cache_key] = encoded
                append(encoded)
            else:
                try:
                    append(len_field(tag, self._key_value(key, value)))
                except TypeError as error:
                    _logger.warning("attribute %r not exported: %s", key, error)
        return b"".join(out)

    def _key(self, key: str) -> bytes:
        encoded_key = len_field(b"\x0a", utf8(key))
        if len(self._keys) >= _CACHE_LIMIT:
            self._keys.clear()
        self._keys[key] = encoded_key
        return encoded_key

    def _key_value(self, key: str, value: Any) -> bytes:
        encoded_key = self._keys.get(key) or self._key(key)
        return encoded_key + len_field(b"\x12", _any_value(value))


def _any_value(value: Any) -> bytes:
    """The body of an ``AnyValue`` message (a oneof: always written, even when zero)."""
    kind = type(value)
    if kind is str:
        return len_field(b"\x0a", utf8(value))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return b"\x18" + encode_varint(value)
        return len_field(b"\x0a", str(value).encode())  # beyond int64: keep every digit
    if kind is float:
        return b"\x21" + pack_double(value)
    if value is None:
        return b""
    # Subclasses and containers, in the stock encoder's order of checks.
    for scalar in (bool, str, int, float):  # subclasses (an IntEnum...) as their base type
        if isinstance(value, scalar):
            return _any_value(scalar(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len_field(b"\x3a", bytes(value))
    if isinstance(value, Sequence):
        return len_field(b"\x2a", b"".join(len_field(b"\x0a", _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        entries = (
            len_field(b"\x0a", len_field(b"\x0a", utf8(str(k))) + len_field(b"\x12", _any_value(v)))
            for k, v in value.items()
        )
        return len_field(b"\x32", b"".join(entries))
    raise TypeError(f"unsupported attribute value type {type(value).__name__}")


def _items(attributes: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Items of an attribute mapping, read from the SDK's plain dict when there is one.

    ``BoundedAttributes`` iterates through ``collections.abc`` in Python, one ``__getitem__``
    per key; its ``_dict`` iterates in C. Any other mapping is read through its public API.
    """
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict or type(inner) is OrderedDict:
        return inner.items()  # type: ignore[no-any-return]
    return attributes.items()


def _trace_state(trace_state: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in trace_state.items())
