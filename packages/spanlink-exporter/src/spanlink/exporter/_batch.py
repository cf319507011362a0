"""Turn a batch of spans into request bodies no larger than the size cap.

Spans are encoded once, grouped by resource and instrumentation scope (as OTLP requires),
and packed greedily into chunks whose body size is bounded from the exact sizes of the
pieces, so splitting never re-encodes. A span that alone cannot fit has its largest string
attribute values truncated with a visible marker; if even that cannot make it fit it is
dropped. Both outcomes are counted by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from spanlink.tracer.support import span_with_attributes

__all__ = ["TRUNCATION_MARKER", "Batcher", "Chunk", "EncodeResult", "Encoder"]

#: Appended to a string attribute value cut to fit the size cap; ``{n}`` is the bytes removed.
TRUNCATION_MARKER = "...[truncated {n} bytes by spanlink]"

Groups = list[tuple[bytes, list[tuple[bytes, list[bytes]]]]]

T = TypeVar("T")
_CACHED = 256  # resource and scope headers kept


class Encoder(Protocol):
    """What the batcher needs from an OTLP encoding (protobuf or JSON)."""

    content_type: str

    def request_overhead(self) -> int: ...
    def group_overhead(self, header: bytes) -> int: ...
    def member_overhead(self) -> int: ...
    def resource(self, resource: Resource | None) -> bytes: ...
    def scope(self, scope: InstrumentationScope | None) -> bytes: ...
    def span(self, span: ReadableSpan) -> bytes: ...
    def assemble(
        self, groups: Sequence[tuple[bytes, Sequence[tuple[bytes, Sequence[bytes]]]]]
    ) -> bytes: ...


@dataclass
class Chunk:
    """Encoded spans for one request, still grouped so it can be split again (after a 413)."""

    groups: Groups = field(default_factory=list)
    span_count: int = 0

    def add(self, resource_header: bytes, scope_header: bytes, span: bytes) -> None:
        """Append a span under its resource and scope, opening groups as needed."""
        if not self.groups or self.groups[-1][0] != resource_header:
            self.groups.append((resource_header, []))
        scopes = self.groups[-1][1]
        if not scopes or scopes[-1][0] != scope_header:
            scopes.append((scope_header, []))
        scopes[-1][1].append(span)
        self.span_count += 1

    def halves(self) -> tuple[Chunk, Chunk]:
        """Split into two chunks of (about) half the spans each, order kept."""
        first, second = Chunk(), Chunk()
        half = self.span_count // 2
        index = 0
        for resource_header, scopes in self.groups:
            for scope_header, spans in scopes:
                for span in spans:
                    (first if index < half else second).add(resource_header, scope_header, span)
                    index += 1
        return first, second


@dataclass
class EncodeResult:
    """Chunks to send, and what had to be changed or left out to respect the size cap."""

    chunks: list[Chunk]
    truncated: int = 0
    too_large: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class _HeaderCache(Generic[T]):
    """Encoded headers by object identity: a process has few resources and scopes.

    The entry keeps a strong reference to the object, so its id stays valid; at
    ``_CACHED`` entries the cache starts over (bounded whatever the caller does).
    """

    __slots__ = ("_build", "_entries")

    def __init__(self, build: Callable[[T], bytes]) -> None:
        self._build = build
        self._entries: dict[int, tuple[T, bytes]] = {}

    def get(self, obj: T) -> bytes:
        """The header of ``obj``, encoded on first sight."""
        cached = self._entries.get(id(obj))
        if cached is not None and cached[0] is obj:
            return cached[1]
        header = self._build(obj)
        if len(self._entries) >= _CACHED:
            self._entries.clear()
        self._entries[id(obj)] = (obj, header)
        return header


class Batcher:
    """Encodes spans with ``encoder`` into chunks of at most ``max_body_bytes`` each."""

    def __init__(self, encoder: Encoder, max_body_bytes: int) -> None:
        self.encoder = encoder
        self.max_body_bytes = max_body_bytes
        # Equal resources or scopes held by distinct objects still group together: their
        # headers are equal.
        self._resource_header: _HeaderCache[Resource | None] = _HeaderCache(encoder.resource)
        self._scope_header: _HeaderCache[InstrumentationScope | None] = _HeaderCache(encoder.scope)

    def encode(self, spans: Sequence[ReadableSpan]) -> EncodeResult:
        """Encode, group and pack ``spans``; never raises for a bad span (it is counted)."""
        encoder = self.encoder
        grouped: dict[bytes, dict[bytes, list[bytes]]] = {}
        result = EncodeResult(chunks=[])
        fixed = encoder.request_overhead()
        for span in spans:
            try:
                resource_header = self._resource_header.get(span.resource)
                scope_header = self._scope_header.get(span.instrumentation_scope)
                encoded = encoder.span(span)
                room = (
                    self.max_body_bytes
                    - fixed
                    - encoder.group_overhead(resource_header)
                    - encoder.group_overhead(scope_header)
                    - encoder.member_overhead()
                )
                if len(encoded) > room:
                    truncated = self._truncate(span, room)
                    if truncated is None:
                        result.too_large += 1
                        continue
                    encoded = truncated
                    result.truncated += 1
            except Exception as error:  # a span the SDK let through but OTLP cannot carry
                result.failed += 1
                result.errors.append(f"{type(error).__name__}: {error}")
                continue
            grouped.setdefault(resource_header, {}).setdefault(scope_header, []).append(encoded)
        result.chunks = self._pack(grouped)
        return result

    def body(self, chunk: Chunk) -> bytes:
        """The request body of a chunk."""
        return self.encoder.assemble(chunk.groups)

    def _pack(self, grouped: dict[bytes, dict[bytes, list[bytes]]]) -> list[Chunk]:
        encoder = self.encoder
        cap = self.max_body_bytes
        member = encoder.member_overhead()
        chunks: list[Chunk] = []
        current = Chunk()
        size = encoder.request_overhead()
        for resource_header, scopes in grouped.items():
            resource_cost = encoder.group_overhead(resource_header)
            for scope_header, spans in scopes.items():
                scope_cost = encoder.group_overhead(scope_header)
                for span in spans:
                    cost = len(span) + member
                    groups = current.groups
                    if not groups or groups[-1][0] != resource_header:
                        cost += resource_cost + scope_cost
                    elif groups[-1][1][-1][0] != scope_header:
                        cost += scope_cost
                    if current.span_count and size + cost > cap:
                        chunks.append(current)
                        current = Chunk()
                        size = encoder.request_overhead()
                        cost = len(span) + member + resource_cost + scope_cost
                    current.add(resource_header, scope_header, span)
                    size += cost
        if current.span_count:
            chunks.append(current)
        return chunks

    def _truncate(self, span: ReadableSpan, room: int) -> bytes | None:
        """Re-encode ``span`` with its largest string values cut until it fits in ``room``.

        Values are capped at one common length (the largest that frees enough bytes), so
        the biggest values lose the most and smaller ones keep their content.
        """
        attributes = dict(span.attributes or {})
        events = [(event, dict(event.attributes or {})) for event in span.events]
        owners = [attributes] + [event_attributes for _, event_attributes in events]
        originals = {
            (index, key): value.encode("utf-8", "replace")
            for index, owner in enumerate(owners)
            for key, value in owner.items()
            if isinstance(value, str)
        }
        encoded = self.encoder.span(span)
        needed = len(encoded) - room
        for _ in range(6):  # a few rounds absorb escaping and varint-size differences
            if needed <= 0 or not originals:
                break
            limit = _common_cap([len(v) for v in originals.values()], needed + 16)
            for (index, key), data in originals.items():
                if len(data) > limit:
                    kept = data[: max(0, limit - _MARKER_ROOM)].decode("utf-8", "ignore")
                    removed = len(data) - len(kept.encode())
                    owners[index][key] = kept + TRUNCATION_MARKER.format(n=removed)
            encoded = self.encoder.span(_with_attributes(span, attributes, events))
            needed += max(len(encoded) - room, 0) + 64
            if len(encoded) <= room:
                break
        return encoded if len(encoded) <= room else None


#: Bytes reserved in a truncated value for the marker (its count has at most 12 digits).
_MARKER_ROOM = len(TRUNCATION_MARKER.format(n=10**12))


def _common_cap(sizes: list[int], reduction: int) -> int:
    """The largest cap on value sizes that frees at least ``reduction`` bytes (0 if none)."""

    def freed(cap: int) -> int:
        return sum(size - max(cap, _MARKER_ROOM) for size in sizes if size > cap)

    low, high = 0, max(sizes)
    while low < high:
        middle = (low + high + 1) // 2
        if freed(middle) >= reduction:
            low = middle
        else:
            high = middle - 1
    return low


def _with_attributes(
    span: ReadableSpan,
    attributes: dict[str, Any],
    events: list[tuple[Event, dict[str, Any]]],
) -> ReadableSpan:
    """A copy of ``span`` with other span and event attributes (everything else kept)."""
    return span_with_attributes(
        span,
        attributes,
        [
            Event(event.name, event_attributes, event.timestamp)
            for event, event_attributes in events
        ],
    )
