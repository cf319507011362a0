"""Validate decoded spans, turn them into rows, and store a batch in one transaction.

A batch is copied (``COPY``) into a per-connection temporary staging table, then merged
into ``spans`` with ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (a re-sent span adds
nothing) and rolled up into ``traces`` in the same statement: all of it or none of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import Engine

from spanlink.receiver.convert import iter_otlp_spans, span_record_from_otlp
from spanlink.receiver.db import database_errors, project_scope
from spanlink.receiver.schema import SPAN_COPY_COLUMNS
from spanlink.tracer import semconv
from spanlink.tracer.model import SpanRecord

__all__ = ["IngestResult", "PreparedBatch", "prepare_batch", "span_row", "write_batch"]

#: How many rejection reasons are quoted in a partial-success message.
_MAX_REASONS = 5
_INT64_MAX = 2**63 - 1


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


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one write stored."""

    received: int
    inserted: int
    trace_ids: frozenset[str]


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


# One encoder, built once: ``json.dumps`` with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list) else "{}"
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


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -_INT64_MAX <= value <= _INT64_MAX else None


def span_row(
    project_id: int, record: SpanRecord, resource_json: str | None = None
) -> tuple[Any, ...]:
    """One span as a row in ``SPAN_COPY_COLUMNS`` order; attributes are normalized here.

    ``resource_json`` is ``record.resource`` already encoded (shared by a batch's spans).
    """
    attributes = semconv.normalize(record.attributes)
    resource = record.resource
    environment = (
        resource.get(semconv.DEPLOYMENT_ENVIRONMENT_NAME)
        or resource.get("deployment.environment")
        or attributes.get(semconv.DEPLOYMENT_ENVIRONMENT_NAME)
    )
    model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(
        semconv.GEN_AI_REQUEST_MODEL
    )
    return (
        project_id,
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        _text(record.name),
        record.kind,
        record.start_time_unix_nano,
        record.end_time_unix_nano,
        record.duration_ns,
        record.status_code,
        _text(record.status_message),
        _text(environment),
        _text(resource.get(semconv.SERVICE_NAME)),
        _text(attributes.get(semconv.SPANLINK_TEST_RUN_ID)),
        _text(attributes.get(semconv.SPANLINK_TEST_CASE_ID)),
        _text(attributes.get(semconv.SPANLINK_TEST_RESULT_ID)),
        _text(model),
        _int_or_none(attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)),
        _int_or_none(attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
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


def prepare_batch(project_id: int, request: ExportTraceServiceRequest) -> PreparedBatch:
    """Validate every span of a request and build the rows of the valid ones."""
    batch = PreparedBatch()
    # The spans of one ResourceSpans share its dict: encode it once. The dict is kept in the
    # cache too, so its id cannot be reused by another resource while we run.
    resource_json: dict[int, tuple[dict[str, Any], str]] = {}
    for index, (span, resource, scope_name, scope_version) in enumerate(iter_otlp_spans(request)):
        reason = _invalid_reason(index, span)
        if reason is not None:
            batch.reject(reason)
            continue
        record = span_record_from_otlp(span, resource, scope_name, scope_version)
        cached = resource_json.get(id(resource))
        if cached is None:
            cached = resource_json[id(resource)] = (resource, _dumps(resource))
        batch.rows.append(span_row(project_id, record, cached[1]))
        batch.trace_ids.add(record.trace_id)
    return batch


_COLUMNS = ", ".join(SPAN_COPY_COLUMNS)

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS spanlink_staging (
    project_id bigint, trace_id text, span_id text, parent_span_id text, name text,
    kind text, start_ns bigint, end_ns bigint, duration_ns bigint, status_code text,
    status_message text, environment text, service_name text, test_run_id text,
    test_case_id text, test_result_id text, model text, input_tokens bigint,
    output_tokens bigint, attributes jsonb, events jsonb, links jsonb, resource jsonb,
    scope_name text, scope_version text
) ON COMMIT DELETE ROWS
"""

# One statement: insert the new spans, roll the inserted ones up into their traces.
_MERGE = f"""
WITH inserted AS (
    INSERT INTO spans ({_COLUMNS})
    SELECT {_COLUMNS} FROM spanlink_staging
    ON CONFLICT (project_id, trace_id, span_id) DO NOTHING
    RETURNING project_id, trace_id, parent_span_id, name, start_ns, end_ns, status_code,
              environment, service_name, test_run_id, test_case_id, test_result_id,
              input_tokens, output_tokens
), grouped AS (
    SELECT project_id, trace_id,
           min(start_ns) AS start_ns, max(end_ns) AS end_ns,
           coalesce((array_agg(name ORDER BY start_ns) FILTER (WHERE parent_span_id IS NULL))[1],
                    (array_agg(name ORDER BY start_ns))[1]) AS root_name,
           bool_or(parent_span_id IS NULL) AS has_root,
           count(*) AS span_count,
           count(*) FILTER (WHERE status_code = 'ERROR') AS error_count,
           (array_agg(environment) FILTER (WHERE environment IS NOT NULL))[1] AS environment,
           (array_agg(service_name ORDER BY start_ns)
               FILTER (WHERE service_name IS NOT NULL))[1] AS service_name,
           (array_agg(test_run_id) FILTER (WHERE test_run_id IS NOT NULL))[1] AS test_run_id,
           (array_agg(test_case_id) FILTER (WHERE test_case_id IS NOT NULL))[1] AS test_case_id,
           (array_agg(test_result_id)
               FILTER (WHERE test_result_id IS NOT NULL))[1] AS test_result_id,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens
    FROM inserted
    GROUP BY project_id, trace_id
), upserted AS (
    INSERT INTO traces AS t (project_id, trace_id, start_ns, end_ns, root_name, has_root,
                             span_count, error_count, environment, service_name, test_run_id,
                             test_case_id, test_result_id, input_tokens, output_tokens)
    SELECT project_id, trace_id, start_ns, end_ns, root_name, has_root, span_count,
           error_count, environment, service_name, test_run_id, test_case_id, test_result_id,
           input_tokens, output_tokens
    FROM grouped ORDER BY trace_id
    ON CONFLICT (project_id, trace_id) DO UPDATE SET
        start_ns = least(t.start_ns, excluded.start_ns),
        end_ns = greatest(t.end_ns, excluded.end_ns),
        root_name = CASE
            WHEN t.has_root THEN t.root_name
            WHEN excluded.has_root THEN excluded.root_name
            WHEN excluded.start_ns < t.start_ns THEN excluded.root_name
            ELSE t.root_name END,
        has_root = t.has_root OR excluded.has_root,
        span_count = t.span_count + excluded.span_count,
        error_count = t.error_count + excluded.error_count,
        environment = coalesce(t.environment, excluded.environment),
        service_name = coalesce(t.service_name, excluded.service_name),
        test_run_id = coalesce(t.test_run_id, excluded.test_run_id),
        test_case_id = coalesce(t.test_case_id, excluded.test_case_id),
        test_result_id = coalesce(t.test_result_id, excluded.test_result_id),
        input_tokens = t.input_tokens + excluded.input_tokens,
        output_tokens = t.output_tokens + excluded.output_tokens,
        updated_at = now()
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM upserted)
"""

#: Called after a batch committed with ``(project_id, trace ids with new spans)``.
CommitListener = Callable[[int, frozenset[str]], None]


def write_batch(
    engine: Engine, project_id: int, rows: Iterable[tuple[Any, ...]], received: int | None = None
) -> IngestResult:
    """Store rows in one transaction (all or nothing); raises ``DatabaseUnavailable``."""
    rows = list(rows)
    trace_ids = frozenset(row[1] for row in rows)
    if not rows:
        return IngestResult(received=received or 0, inserted=0, trace_ids=frozenset())
    with database_errors(), engine.begin() as connection:
        project_scope(connection, project_id)
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(_STAGING_DDL)
            with cursor.copy(f"COPY spanlink_staging ({_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(_MERGE)
            counts = cursor.fetchone()
    inserted = int(counts[0]) if counts else 0
    return IngestResult(
        received=received if received is not None else len(rows),
        inserted=inserted,
        trace_ids=trace_ids,
    )
