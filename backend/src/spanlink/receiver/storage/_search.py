"""Full-text search over spans: the stored vectors (``span_search``) and the queued tail.

A span's vector is computed after ingest by the search indexer (``receiver.search``), not
in the ingest transaction. Until then the span is named by a row of ``span_search_queue``,
and a search computes the vector of those spans only, on the fly (:func:`pending_hits`):
every stored span is found, indexed or not. The tail is small while the indexer keeps up
(one transaction per queued batch, right after it commits).

The indexer's statements are here too (:func:`claim_batch`, :func:`index_batch`,
:func:`record_failure`), so that the vector is spelled in one place (:data:`SPAN_VECTOR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    and_,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)

from spanlink.receiver.storage._engine import project_scope
from spanlink.receiver.storage._tables import span_search, span_search_queue, spans

__all__ = [
    "MAX_SEARCH_CHARS",
    "SPAN_VECTOR",
    "QueuedBatch",
    "claim_batch",
    "finish_batch",
    "index_batch",
    "indexed_hits",
    "pending_hits",
    "record_failure",
    "retry_later",
    "span_matches",
    "text_hits",
    "trace_has_text",
]

#: How much of a span's text (name, status message, input, output) is indexed.
MAX_SEARCH_CHARS = 100_000

#: The vector of span row ``{t}``: what ``spans.search`` was, and what the indexer stores.
SPAN_VECTOR = (
    "to_tsvector('english'::regconfig, left({t}.name || ' ' || coalesce({t}.status_message, '')"
    " || ' ' || coalesce({t}.attributes->>'spanlink.input', '') || ' '"
    " || coalesce({t}.attributes->>'spanlink.output', ''), " + str(MAX_SEARCH_CHARS) + "))"
)


#: A value of a query, or the bound parameter that carries it.
_ProjectId = int | BindParameter[Any]
_Terms = str | BindParameter[Any]


def _query(q: _Terms) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column("'english'"), q)


def indexed_hits(project_id: _ProjectId, q: _Terms) -> Select[Any]:
    """``(trace_id, span_id)`` of the indexed spans matching ``q`` (the GIN index)."""
    ss = span_search.c
    return select(ss.trace_id, ss.span_id).where(
        ss.project_id == project_id, ss.search.op("@@")(_query(q))
    )


def pending_hits(project_id: _ProjectId, q: _Terms, root_only: bool = False) -> Select[Any]:
    """``(trace_id, span_id)`` of the queued (not yet indexed) spans matching ``q``, their
    vectors computed now: bounded by the queue's length for the project."""
    queue = span_search_queue.alias("queued")
    ids = (
        func.unnest(queue.c.trace_ids, queue.c.span_ids)
        .table_valued("trace_id", "span_id")
        .render_derived(name="queued_ids")
    )
    pending = spans.alias("pending_span")
    p = pending.c
    where = [
        queue.c.project_id == project_id,
        literal_column(SPAN_VECTOR.format(t="pending_span")).op("@@")(_query(q)),
    ]
    if root_only:
        where.append(p.parent_span_id.is_(None))
    same_span = and_(
        p.project_id == project_id, p.trace_id == ids.c.trace_id, p.span_id == ids.c.span_id
    )
    # A function in FROM sees the items before it: one row per queued span id.
    return (
        select(p.trace_id, p.span_id)
        .select_from(queue)
        .join(ids, literal_column("true"))
        .join(pending, same_span)
        .where(*where)
    )


def text_hits(project_id: _ProjectId, q: _Terms) -> Any:
    """Every span of the project matching ``q``: indexed, or queued and matched on the fly."""
    return indexed_hits(project_id, q).union_all(pending_hits(project_id, q))


def span_matches(project_id: _ProjectId, q: _Terms) -> ColumnElement[bool]:
    """The ``spans`` row matches ``q`` (for a condition on ``spans``)."""
    return tuple_(spans.c.trace_id, spans.c.span_id).in_(text_hits(project_id, q))


def trace_has_text(
    project_id: _ProjectId, trace_id: ColumnElement[Any], q: _Terms, root_only: bool
) -> ColumnElement[bool]:
    """Trace ``trace_id`` (a correlated column) has a span matching ``q`` (a root span with
    ``root_only``): a primary-key probe of its vectors, or one of its queued spans."""
    ss = span_search.c
    probe = [ss.project_id == project_id, ss.trace_id == trace_id, ss.search.op("@@")(_query(q))]
    if root_only:
        s = spans.c
        probe.append(
            exists().where(
                s.project_id == ss.project_id,
                s.trace_id == ss.trace_id,
                s.span_id == ss.span_id,
                s.parent_span_id.is_(None),
            )
        )
    queued = pending_hits(project_id, q, root_only).subquery("queued_hits")
    return exists().where(*probe) | trace_id.in_(select(queued.c.trace_id))


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    """One claimed row of ``span_search_queue``: the spans of one ingest batch."""

    id: int
    project_id: int
    trace_ids: list[str]
    span_ids: list[str]
    attempts: int
    last_error: str | None


_CLAIM = text(
    "SELECT id, project_id, trace_ids, span_ids, attempts, last_error FROM span_search_queue "
    "WHERE not_before <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)

_INDEX = text(
    "INSERT INTO span_search (project_id, trace_id, span_id, search) "
    f"SELECT s.project_id, s.trace_id, s.span_id, {SPAN_VECTOR.format(t='s')} "
    "FROM unnest(CAST(:trace_ids AS text[]), CAST(:span_ids AS text[])) AS u(trace_id, span_id) "
    "JOIN spans s ON s.project_id = :project_id AND s.trace_id = u.trace_id "
    "AND s.span_id = u.span_id "
    "ON CONFLICT (project_id, trace_id, span_id) DO NOTHING"
)

_DONE = text("DELETE FROM span_search_queue WHERE id = :id")

_FAILED = text(
    "INSERT INTO span_search (project_id, trace_id, span_id, search, error) "
    "VALUES (:project_id, :trace_id, :span_id, NULL, :error) "
    "ON CONFLICT (project_id, trace_id, span_id) DO UPDATE SET error = excluded.error"
)

_RETRY_LATER = text(
    "UPDATE span_search_queue SET attempts = attempts + 1, last_error = :error, "
    "not_before = now() + make_interval(secs => :delay) WHERE id = :id"
)


def claim_batch(connection: Connection) -> QueuedBatch | None:
    """Lock the oldest queued batch no other indexer holds (``SKIP LOCKED``), or None."""
    row = connection.execute(_CLAIM).first()
    if row is None:
        return None
    return QueuedBatch(int(row[0]), int(row[1]), list(row[2]), list(row[3]), int(row[4]), row[5])


def index_batch(
    connection: Connection, batch: QueuedBatch, trace_ids: list[str], span_ids: list[str]
) -> int:
    """Store the vectors of these spans of ``batch`` (scoped to its project); the number of
    vectors computed. A span indexed already (or deleted since) is left as it is."""
    project_scope(connection, batch.project_id)
    params = {"project_id": batch.project_id, "trace_ids": trace_ids, "span_ids": span_ids}
    return int(connection.execute(_INDEX, params).rowcount or 0)


def finish_batch(connection: Connection, batch: QueuedBatch) -> None:
    """Remove the claimed batch from the queue (its spans are indexed or recorded)."""
    connection.execute(_DONE, {"id": batch.id})


def record_failure(
    connection: Connection, batch: QueuedBatch, trace_id: str, span_id: str, error: str
) -> None:
    """Record that a span cannot be indexed (searches skip it; ``error`` says why)."""
    project_scope(connection, batch.project_id)
    connection.execute(
        _FAILED,
        {"project_id": batch.project_id, "trace_id": trace_id, "span_id": span_id, "error": error},
    )


def retry_later(connection: Connection, batch: QueuedBatch, error: str, delay_s: float) -> None:
    """Put the batch back for another attempt in ``delay_s`` seconds, with the reason."""
    connection.execute(_RETRY_LATER, {"id": batch.id, "error": error, "delay": delay_s})
