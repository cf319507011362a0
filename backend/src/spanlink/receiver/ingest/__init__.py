"""Ingest: an OTLP/HTTP body becomes stored spans, all of a batch or none of it.

The pipeline, one module per step: ``_decode`` (content type, bounded decompression,
protobuf or OTLP JSON -> the protobuf wire form), ``_wire`` (framing at span boundaries,
span and value caps, spans decoded one at a time), ``_records`` (OTLP spans and stored
rows -> :class:`spanlink.tracer.model.SpanRecord`), ``_rows`` (validation, normalized
attributes -> ``spans`` rows), ``_write`` (``COPY`` into a staging table, then one merge into
``spans`` and ``traces``).
"""

from __future__ import annotations

from spanlink.receiver.ingest._decode import (
    DEFAULT_MAX_SPANS,
    DEFAULT_MAX_VALUES,
    Encoding,
    decode_request,
    decompress,
    encode_response,
    parse_content_type,
)
from spanlink.receiver.ingest._errors import (
    BodyTooLarge,
    MalformedBody,
    OTLPError,
    UnsupportedMediaType,
)
from spanlink.receiver.ingest._records import (
    KIND_NAMES,
    STATUS_NAMES,
    any_value,
    attributes_from_otlp,
    iter_otlp_spans,
    span_record_from_otlp,
    span_record_from_row,
)
from spanlink.receiver.ingest._rows import (
    FULL_NAME_ATTRIBUTE,
    PreparedBatch,
    prepare_batch,
    span_row,
)
from spanlink.receiver.ingest._wire import WireRequest, iter_wire_spans, split_request
from spanlink.receiver.ingest._write import CommitListener, IngestResult, write_batch

__all__ = [
    "DEFAULT_MAX_SPANS",
    "DEFAULT_MAX_VALUES",
    "FULL_NAME_ATTRIBUTE",
    "KIND_NAMES",
    "STATUS_NAMES",
    "BodyTooLarge",
    "CommitListener",
    "Encoding",
    "IngestResult",
    "MalformedBody",
    "OTLPError",
    "PreparedBatch",
    "UnsupportedMediaType",
    "WireRequest",
    "any_value",
    "attributes_from_otlp",
    "decode_request",
    "decompress",
    "encode_response",
    "iter_otlp_spans",
    "iter_wire_spans",
    "parse_content_type",
    "prepare_batch",
    "span_record_from_otlp",
    "span_record_from_row",
    "span_row",
    "split_request",
    "write_batch",
]
