"""Validate decoded spans and turn the valid ones into ``spans`` rows (``SPAN_COPY_COLUMNS``).

Attributes are normalized to the GenAI conventions here; the environment, service, test ids,
model and token counts become columns of their own. Text columns that are indexed are
bounded (``storage.bound_indexed``) and token counts clamped to ``[0, INT64_MAX]``, so no
value can make the database refuse a batch; the full value stays in the attributes (a cut
span name under :data:`FULL_NAME_ATTRIBUTE`) or the resource.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spanlink.receiver.ingest._records import iter_otlp_spans, span_record_from_otlp
from spanlink.receiver.ingest._wire import WireRequest, iter_wire_spans
from spanlink.receiver.redaction import (
    EMPTY_RULES,
    CompiledRules,
    RedactionBudget,
    RedactionPluginError,
    redact_attributes,
    redact_span,
)
from spanlink.receiver.storage import bigint_or_none, bound_indexed
from spanlink.tracer import semconv
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.support import INT64_MAX as _INT64_MAX

__all__ = ["FULL_NAME_ATTRIBUTE", "PreparedBatch", "prepare_batch", "span_row"]

#: Attribute holding a span's full name when it was too long for the ``name`` column.
FULL_NAME_ATTRIBUTE = "spanlink.span.name"

logger = logging.getLogger("spanlink.receiver")

#: How many rejection reasons are quoted in a partial-success message.
_MAX_REASONS = 5


@dataclass(slots=True)
class PreparedBatch:
    """Rows ready for COPY plus what was rejected and why."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)

    def reject(self, reason: str) -> None:
        """Count one rejected span, keeping the first few reasons."""
        self.rejected += 1
        if len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)

    @property
    def error_message(self) -> str:
        """The rejection reasons as one message ('' when nothing was rejected)."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.reasons)
        suffix = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons) + suffix


def _invalid_reason(index: int, span: Span) -> str | None:
    where = f"span #{index}"
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"{where}: trace id must be 16 bytes, not all zero (got {span.trace_id.hex()!r})"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"{where}: span id must be 8 bytes, not all zero (got {span.span_id.hex()!r})"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"{where}: parent span id must be 8 bytes or empty"
    if span.start_time_unix_nano == 0:
        return f"{where}: start time is missing"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return f"{where}: end time is before start time"
    if span.start_time_unix_nano > _INT64_MAX or span.end_time_unix_nano > _INT64_MAX:
        return f"{where}: time is beyond the year 2262"
    for link in span.links:
        if len(link.trace_id) != 16 or len(link.span_id) != 8:
            return f"{where}: a link's trace id must be 16 bytes and its span id 8 bytes"
    return None


def _clean(value: Any) -> Any:
    """JSON-safe for Postgres: no NUL characters, no NaN/Infinity (stored as strings)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# orjson first (several times faster); this encoder, built once (``json.dumps`` with options
# builds a new one per call), for what orjson cannot encode the same way.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    try:
        data = orjson.dumps(value)
    except TypeError:  # a key that is not a string, an integer beyond 64 bits
        return _dumps_slowly(value)
    # orjson writes NaN and Infinity as null: any null (rare) takes the exact path, as
    # does a NUL character (Postgres refuses \u0000 in JSON).
    if b"null" in data or b"\\u0000" in data:
        return _dumps_slowly(value)
    return data.decode()


def _dumps_slowly(value: Any) -> str:
    """The reference encoding: NaN/Infinity as strings, NUL replaced (``_clean``)."""
    try:
        text = _ENCODER.encode(value)
    except ValueError:  # NaN or Infinity somewhere
        return _ENCODER.encode(_clean(value))
    return _ENCODER.encode(_clean(value)) if "\\u0000" in text else text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _indexed(value: Any) -> str | None:
    return bound_indexed(_text(value))


#: ``spanlink_redact_ingest`` bound to a project: attributes in, attributes to store out.
RedactIngest = Callable[[dict[str, Any]], dict[str, Any]]


def span_row(
    project_id: int,
    record: SpanRecord,
    resource_json: str | None = None,
    redact_ingest: RedactIngest | None = None,
) -> tuple[Any, ...]:
    """One span as a row in ``SPAN_COPY_COLUMNS`` order; attributes are normalized here.

    ``resource_json`` is ``record.resource`` already encoded (shared by a batch's spans).
    ``redact_ingest`` (the plugins' hook) gets the normalized attributes; the row is built
    from what it returns. It raises ``RedactionPluginError`` when a plugin failed.
    """
    attributes = semconv.normalize(record.attributes)
    if redact_ingest is not None:
        attributes = redact_ingest(attributes)
    resource = record.resource
    environment = (
        resource.get(semconv.DEPLOYMENT_ENVIRONMENT_NAME)
        or resource.get("deployment.environment")
        or attributes.get(semconv.DEPLOYMENT_ENVIRONMENT_NAME)
    )
    model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(
        semconv.GEN_AI_REQUEST_MODEL
    )
    name = _text(record.name) or ""
    bounded_name = bound_indexed(name)
    if bounded_name is not name:
        attributes = {**attributes, FULL_NAME_ATTRIBUTE: name}
    return (
        project_id,
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        bounded_name,
        record.kind,
        record.start_time_unix_nano,
        record.end_time_unix_nano,
        record.duration_ns,
        record.status_code,
        _text(record.status_message),
        _indexed(environment),
        _indexed(resource.get(semconv.SERVICE_NAME)),
        _indexed(attributes.get(semconv.SPANLINK_TEST_RUN_ID)),
        _indexed(attributes.get(semconv.SPANLINK_TEST_CASE_ID)),
        _indexed(attributes.get(semconv.SPANLINK_TEST_RESULT_ID)),
        _indexed(model),
        bigint_or_none(attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)),
        bigint_or_none(attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
        _dumps(attributes),
        _dumps(
            [
                {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": e.attributes}
                for e in record.events
            ]
        ),
        _dumps(
            [
                {"trace_id": link.trace_id, "span_id": link.span_id, "attributes": link.attributes}
                for link in record.links
            ]
        ),
        resource_json if resource_json is not None else _dumps(resource),
        _text(record.scope_name),
        _text(record.scope_version),
    )


def _spans(
    request: ExportTraceServiceRequest | WireRequest,
) -> Iterator[tuple[Span, dict[str, Any], str, str]]:
    if isinstance(request, WireRequest):
        return iter_wire_spans(request)  # decoded one by one
    return iter_otlp_spans(request)


def prepare_batch(
    project_id: int,
    request: ExportTraceServiceRequest | WireRequest,
    redaction: CompiledRules = EMPTY_RULES,
    redact_ingest: RedactIngest | None = None,
) -> PreparedBatch:
    """Validate every span of a request and build the rows of the valid ones.

    ``redaction`` (the project's rules) is applied to each record before its row is built,
    then ``redact_ingest`` (the plugins' ``spanlink_redact_ingest``, see ``span_row``), so
    nothing unredacted reaches a row; with neither this costs one attribute test. A span a
    redaction plugin fails on is rejected, never stored unredacted.
    """
    if not redaction.is_empty:
        return _prepare_redacted(project_id, request, redaction, redact_ingest)
    batch = PreparedBatch()
    # The spans of one ResourceSpans share its dict: encode it once. The dict is kept in the
    # cache too, so its id cannot be reused by another resource while we run.
    resource_json: dict[int, tuple[dict[str, Any], str]] = {}
    for index, (span, resource, scope_name, scope_version) in enumerate(_spans(request)):
        reason = _invalid_reason(index, span)
        if reason is not None:
            batch.reject(reason)
            continue
        record = span_record_from_otlp(span, resource, scope_name, scope_version)
        cached = resource_json.get(id(resource))
        if cached is None:
            cached = resource_json[id(resource)] = (resource, _dumps(resource))
        _add_row(batch, index, project_id, record, cached[1], redact_ingest)
    return batch


def _add_row(
    batch: PreparedBatch,
    index: int,
    project_id: int,
    record: SpanRecord,
    resource_json: str,
    redact_ingest: RedactIngest | None,
) -> None:
    try:
        row = span_row(project_id, record, resource_json, redact_ingest)
    except RedactionPluginError as error:
        batch.reject(f"span #{index}: {error}; not stored unredacted")
        return
    batch.rows.append(row)
    batch.trace_ids.add(record.trace_id)


def _prepare_redacted(
    project_id: int,
    request: ExportTraceServiceRequest | WireRequest,
    rules: CompiledRules,
    redact_ingest: RedactIngest | None,
) -> PreparedBatch:
    batch = PreparedBatch()
    budget = RedactionBudget()  # one budget for the whole batch (see redaction)
    # A resource is redacted and encoded once for all its spans.
    resources: dict[int, tuple[dict[str, Any], dict[str, Any], str]] = {}
    for index, (span, resource, scope_name, scope_version) in enumerate(_spans(request)):
        reason = _invalid_reason(index, span)
        if reason is not None:
            batch.reject(reason)
            continue
        cached = resources.get(id(resource))
        if cached is None:
            redacted = redact_attributes(resource, rules, budget)
            cached = resources[id(resource)] = (resource, redacted, _dumps(redacted))
        record = span_record_from_otlp(span, cached[1], scope_name, scope_version)
        record = redact_span(record, rules, budget, include_resource=False)
        _add_row(batch, index, project_id, record, cached[2], redact_ingest)
    if budget.timed_out:
        logger.warning(
            "redaction rule(s) %s of project %s ran out of time; the values they were "
            "searching were stored as [REDACTED:<rule>] (make the pattern simpler)",
            ", ".join(sorted(budget.timed_out)),
            project_id,
        )
    return batch
