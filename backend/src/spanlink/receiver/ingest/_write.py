"""Store a batch of span rows in one transaction: all of it or none of it.

One statement per batch: the rows are sent as one array per column (binary parameters),
inserted into ``spans`` with ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``
(a re-sent span adds nothing; ``COPY`` is not allowed under row-level security), and the
inserted ones are queued for the search indexer (``span_search_queue``: full-text vectors
are computed after the commit, see ``receiver.search``) and rolled up into ``traces``.
Spans' evaluation events become scores in the same transaction (``_scores``).
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

_INT64_MAX = INT64_MAX
#: Spans per row of ``span_search_queue``: what the indexer takes in one transaction.
SEARCH_QUEUE_PART = 512
_INT32_MAX = 2**31 - 1

# One statement: insert the new spans, queue them for the search indexer (parts of at most
# SEARCH_QUEUE_PART spans: one indexer transaction each), roll them up into their traces. Sums
# saturate at the column's maximum (a bigint overflow would refuse the trace's every
# later batch); count(*) in a batch is bounded by the spans-per-request cap.
_ROLLUP = f"""grouped AS (
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

#: The columns of the inserted spans the rollup and the search queue read.
_ROLLUP_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "start_ns",
    "end_ns",
    "status_code",
    "environment",
    "service_name",
    "test_run_id",
    "test_case_id",
    "test_result_id",
    "input_tokens",
    "output_tokens",
)
_INTEGER_COLUMNS = frozenset({"start_ns", "end_ns", "input_tokens", "output_tokens"})

_JSON_COLUMNS = frozenset({"attributes", "events", "links", "resource"})
_BIGINT_COLUMNS = _INTEGER_COLUMNS | {"duration_ns"}
_BATCH_COLUMNS = SPAN_COPY_COLUMNS[1:]  # the project id is one parameter for all
_ARRAYS = ", ".join(
    f"%({c})b::{'bigint' if c in _BIGINT_COLUMNS else 'text'}[]" for c in _BATCH_COLUMNS
)
_VALUES = ", ".join(f"{c}::jsonb" if c in _JSON_COLUMNS else c for c in _BATCH_COLUMNS)

# Insert what is new (a re-sent span adds nothing) ...
_INSERT = f"""
INSERT INTO spans ({_COLUMNS})
SELECT %(project_id)s::bigint, {_VALUES}
FROM unnest({_ARRAYS}) AS batch({", ".join(_BATCH_COLUMNS)})
ON CONFLICT (project_id, trace_id, span_id) DO NOTHING"""
# ... and queue and roll up what was inserted, in the same statement.
_MERGE = f"""
WITH inserted AS ({_INSERT}
    RETURNING project_id, {", ".join(_ROLLUP_COLUMNS)}
), {_ROLLUP}"""


def merge_params(project_id: int, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The parameters of ``_INSERT`` and ``_MERGE`` for ``rows``: one array per column."""
    params: dict[str, Any] = {"project_id": project_id}
    for column, values in zip(_BATCH_COLUMNS, list(zip(*rows, strict=True))[1:], strict=True):
        params[column] = list(values)
    return params


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
    """Store ``rows`` in one transaction; with ``refused``, part by part (below)."""
    with project_transaction(engine, project_id) as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            if refused is None:
                inserted = _merge(connection, cursor, project_id, rows)
            else:
                inserted = _merge_parts(connection, cursor, project_id, rows, refused)
    return inserted


def _merge(connection: Any, cursor: Any, project_id: int, rows: list[tuple[Any, ...]]) -> int:
    cursor.execute(_MERGE, merge_params(project_id, rows))
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
