"""Store a batch of span rows in one transaction: all of it or none of it.

A batch is copied (``COPY``) into a per-connection temporary staging table, then merged
into ``spans`` with ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (a re-sent span adds
nothing), queued for the search indexer (``span_search_queue``: full-text vectors are
computed after the commit, see ``receiver.search``) and rolled up into ``traces`` in the
same statement. Spans' evaluation events
become scores in the same transaction (``_scores``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from spanlink.receiver.ingest._scores import store_event_scores
from spanlink.receiver.storage import DatabaseRejected, database_errors, project_transaction
from spanlink.receiver.storage._tables import SPAN_COPY_COLUMNS
from spanlink.tracer.support import INT64_MAX

__all__ = ["CommitListener", "IngestResult", "write_batch"]

logger = logging.getLogger("spanlink.receiver")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one write stored."""

    received: int
    inserted: int
    trace_ids: frozenset[str]
    #: Span ids the database refused (left out; the rest of the batch is stored).
    refused: tuple[str, ...] = ()


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

_INT64_MAX = INT64_MAX
#: Spans per row of ``span_search_queue``: what the indexer takes in one transaction.
SEARCH_QUEUE_PART = 512
_INT32_MAX = 2**31 - 1

# One statement: insert the new spans, queue them for the search indexer (parts of at most
# SEARCH_QUEUE_PART spans: one indexer transaction each), roll them up into their traces. Sums
# saturate at the column's maximum (a bigint overflow would refuse the trace's every
# later batch); count(*) in a batch is bounded by the spans-per-request cap.
_MERGE = f"""
WITH inserted AS (
    INSERT INTO spans ({_COLUMNS})
    SELECT {_COLUMNS} FROM spanlink_staging
    ON CONFLICT (project_id, trace_id, span_id) DO NOTHING
    RETURNING project_id, trace_id, span_id, parent_span_id, name, start_ns, end_ns, status_code,
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
           least(coalesce(sum(input_tokens), 0), {_INT64_MAX})::bigint AS input_tokens,
           least(coalesce(sum(output_tokens), 0), {_INT64_MAX})::bigint AS output_tokens
    FROM inserted
    GROUP BY project_id, trace_id
), queued AS (
    INSERT INTO span_search_queue (project_id, trace_ids, span_ids)
    SELECT project_id, array_agg(trace_id), array_agg(span_id)
    FROM (SELECT project_id, trace_id, span_id,
                 (row_number() OVER () - 1) / {SEARCH_QUEUE_PART} AS part
          FROM inserted) numbered
    GROUP BY project_id, part
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
        span_count = least(t.span_count::bigint + excluded.span_count, {_INT32_MAX}),
        error_count = least(t.error_count::bigint + excluded.error_count, {_INT32_MAX}),
        environment = coalesce(t.environment, excluded.environment),
        service_name = coalesce(t.service_name, excluded.service_name),
        test_run_id = coalesce(t.test_run_id, excluded.test_run_id),
        test_case_id = coalesce(t.test_case_id, excluded.test_case_id),
        test_result_id = coalesce(t.test_result_id, excluded.test_result_id),
        input_tokens = least(t.input_tokens::numeric + excluded.input_tokens, {_INT64_MAX}),
        output_tokens = least(t.output_tokens::numeric + excluded.output_tokens, {_INT64_MAX}),
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
    """Store rows in one transaction (all or nothing); raises ``DatabaseUnavailable``.

    Should the database refuse the batch for a value it cannot take (no such value is
    known: columns are bounded before this), the batch is written again with the refused
    spans left out and named in ``IngestResult.refused``, instead of losing the others.
    """
    rows = list(rows)
    if not rows:
        return IngestResult(received=received or 0, inserted=0, trace_ids=frozenset())
    refused: list[str] = []
    try:
        inserted = _write(engine, project_id, rows, None)
    except DatabaseRejected:
        inserted = _write(engine, project_id, rows, refused)
    left_out = set(refused)
    kept = [row for row in rows if row[2] not in left_out] if left_out else rows
    return IngestResult(
        received=received if received is not None else len(rows),
        inserted=inserted,
        trace_ids=frozenset(row[1] for row in kept),
        refused=tuple(refused),
    )


def _write(
    engine: Engine, project_id: int, rows: list[tuple[Any, ...]], refused: list[str] | None
) -> int:
    """Stage and merge ``rows`` in one transaction; with ``refused``, part by part (below)."""
    with project_transaction(engine, project_id) as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(_STAGING_DDL)
            if refused is None:
                inserted = _merge(connection, cursor, project_id, rows)
            else:
                inserted = _merge_parts(connection, cursor, project_id, rows, refused)
    return inserted


def _merge(connection: Any, cursor: Any, project_id: int, rows: list[tuple[Any, ...]]) -> int:
    with cursor.copy(f"COPY spanlink_staging ({_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(_MERGE)
    counts = cursor.fetchone()
    store_event_scores(connection, project_id, rows)  # same transaction as the spans
    return int(counts[0]) if counts else 0


def _merge_parts(
    connection: Any,
    cursor: Any,
    project_id: int,
    rows: list[tuple[Any, ...]],
    refused: list[str],
) -> int:
    """Merge ``rows`` under a savepoint; refused, split in halves until the spans the
    database refuses are alone (k refused spans cost O(k log n) statements)."""
    cursor.execute("SAVEPOINT spanlink_part")
    try:
        with database_errors():
            inserted = _merge(connection, cursor, project_id, rows)
            cursor.execute("TRUNCATE spanlink_staging")  # the next part stages afresh
    except DatabaseRejected as error:
        cursor.execute("ROLLBACK TO SAVEPOINT spanlink_part")
        if len(rows) == 1:
            refused.append(rows[0][2])
            logger.warning("span %s refused by the database: %s", rows[0][2], error)
            return 0
        half = len(rows) // 2
        return _merge_parts(connection, cursor, project_id, rows[:half], refused) + (
            _merge_parts(connection, cursor, project_id, rows[half:], refused)
        )
    cursor.execute("RELEASE SAVEPOINT spanlink_part")
    return inserted
