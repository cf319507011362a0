"""One trace for the API (its header and its spans in tree order) and one span in full.

The trace answer is lean by default: each span carries what the waterfall draws (ids,
name, kind, times, status, service, test ids, model and token columns, the GenAI operation
and tool name), not its attributes, events, links and resource, which are most of a
span's bytes and are read per span (:func:`get_span_json`) or, for an export, with
``full=True``. Rows are fetched as plain tuples on the driver connection and encoded once
with orjson; JSONB values the answer passes through untouched (attributes, the
enrichment) are rendered as text by Postgres and spliced in as :class:`orjson.Fragment`,
never parsed.

With ``compact=True`` the spans are rows (arrays in the order of ``span_fields``) in start
order, sorted by Postgres and serialized as the driver hands them over (no object per
span, no tree order: the reader builds the tree itself, as the viewer does).
:func:`read_trace_json` sends the project scope, the statements and the commit together:
one round trip to the database per answer.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from spanlink.receiver.storage._costs import cost_result, trace_cost
from spanlink.receiver.storage._engine import read_in_project

__all__ = ["get_span_json", "read_trace_json"]

# What every span object carries, in the order of the fetched columns below.
_LEAN_KEYS = (
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "duration_ms",
    "status_code",
    "status_message",
    "service_name",
    "environment",
    "test_run_id",
    "test_case_id",
    "test_result_id",
    "model",
    "input_tokens",
    "output_tokens",
    "operation_name",
    "tool_name",
)
# ``{duration}``: the stored nanoseconds for span objects (divided in Python), already
# milliseconds for the compact rows (passed through untouched).
_LEAN_COLUMNS_OF = """
    s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, {duration},
    s.status_code, s.status_message, s.service_name, s.environment, s.test_run_id,
    s.test_case_id, s.test_result_id, s.model, s.input_tokens, s.output_tokens,
    s.attributes ->> 'gen_ai.operation.name' AS operation_name,
    s.attributes ->> 'gen_ai.tool.name' AS tool_name
"""
_LEAN_COLUMNS = _LEAN_COLUMNS_OF.format(duration="s.duration_ns")
# The full span adds these (JSONB as Postgres's text, spliced in unparsed).
_FULL_KEYS = (
    "trace_id",
    "scope_name",
    "scope_version",
    "attributes",
    "events",
    "links",
    "resource",
    "enrichment",
)
_FULL_COLUMNS = """,
    s.trace_id, s.scope_name, s.scope_version, s.attributes::text, s.events::text,
    s.links::text, s.resource::text, (enrichment.by_span -> s.span_id)::text
"""
_LEAN_SQL = f"""
    SELECT {_LEAN_COLUMNS} FROM spans s
    WHERE s.project_id = %(project_id)s AND s.trace_id = %(trace_id)s
"""
_FULL_SQL = f"""
    SELECT {_LEAN_COLUMNS}{_FULL_COLUMNS} FROM spans s
    -- The trace's per-span plugin results, read (and detoasted) once, not once per span.
    LEFT JOIN (SELECT e.data -> 'spans' AS by_span FROM trace_enrichments e
               WHERE e.project_id = %(project_id)s AND e.trace_id = %(trace_id)s) AS enrichment
           ON true
    WHERE s.project_id = %(project_id)s AND s.trace_id = %(trace_id)s
"""
_SPAN_SQL = _FULL_SQL + " AND s.span_id = %(span_id)s"
_ENRICHMENT_SQL = """
    SELECT json_build_object('data', data, 'plugin_versions', plugin_versions,
                             'span_count', span_count, 'computed_at', computed_at)::text AS body,
           data #> '{trace,cost}' AS cost
    FROM trace_enrichments WHERE project_id = %(project_id)s AND trace_id = %(trace_id)s
"""
# The compact rows: in start order, ties by id (as the tree order sorts them), each
# serialized by orjson as it comes from the driver (a tuple is a JSON array).
_COMPACT_SQL = f"""
    SELECT {_LEAN_COLUMNS_OF.format(duration="s.duration_ns / 1e6::float8")} FROM spans s
    WHERE s.project_id = %(project_id)s AND s.trace_id = %(trace_id)s
    ORDER BY s.start_ns, s.span_id COLLATE "C"
"""

# Positions in a fetched row.
_ID, _PARENT, _START, _END, _DURATION, _STATUS = 0, 1, 4, 5, 6, 7
_RUN, _CASE, _RESULT = 11, 12, 13
_JSON_FROM = len(_LEAN_KEYS) + 3  # attributes onwards: JSON text or NULL


def _span_object(row: tuple[Any, ...], keys: tuple[str, ...]) -> dict[str, Any]:
    span = dict(zip(keys, row, strict=True))
    span["duration_ms"] = row[_DURATION] / 1e6
    for index in range(_JSON_FROM, len(row)):
        value = row[index]
        span[keys[index]] = None if value is None else orjson.Fragment(value)
    return span


_by_start = itemgetter(_START, _ID)


def _tree_order(rows: list[tuple[Any, ...]]) -> list[tuple[int, tuple[Any, ...], list[str]]]:
    """Depth-first ``(depth, row, child ids)``: orphans are roots, children by start time."""
    ordered = sorted(rows, key=_by_start)
    ids = {row[_ID] for row in ordered}
    children: dict[str, list[tuple[Any, ...]]] = {}
    roots = []
    for row in ordered:
        parent = row[_PARENT]
        if parent is not None and parent in ids and parent != row[_ID]:
            children.setdefault(parent, []).append(row)
        else:
            roots.append(row)
    out: list[tuple[int, tuple[Any, ...], list[str]]] = []
    seen: set[str] = set()
    stack = [(0, row) for row in reversed(roots)]
    while stack:
        depth, row = stack.pop()
        span_id = row[_ID]
        if span_id in seen:
            continue
        seen.add(span_id)
        kids = children.get(span_id, ())
        out.append((depth, row, [kid[_ID] for kid in kids]))
        stack.extend((depth + 1, kid) for kid in reversed(kids))
    # Spans only reachable through a parent cycle: list them as roots so none is lost.
    out.extend((0, row, []) for row in ordered if row[_ID] not in seen)
    return out


def _test_links(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Distinct (run, case, result) ids of the spans carrying any, with their span counts."""
    counts = Counter(
        (row[_RUN], row[_CASE], row[_RESULT])
        for row in rows
        if row[_RUN] is not None or row[_CASE] is not None or row[_RESULT] is not None
    )
    # Sorted as Postgres sorts them: ascending, missing ids last.
    return [
        {"test_run_id": r, "test_case_id": c, "test_result_id": t, "span_count": n}
        for (r, c, t), n in sorted(
            counts.items(), key=lambda item: [(v is None, v or "") for v in item[0]]
        )
    ]


def _cursor(connection: Connection) -> Any:
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw.cursor()


def _statements(
    project_id: int, trace_id: str, *, full: bool, compact: bool
) -> list[tuple[str, dict[str, Any]]]:
    params = {"project_id": project_id, "trace_id": trace_id}
    spans_sql = _COMPACT_SQL if compact else _FULL_SQL if full else _LEAN_SQL
    return [(spans_sql, params), (_ENRICHMENT_SQL, params)]


def _header(
    trace_id: str, rows: list[tuple[Any, ...]], found: tuple[Any, ...] | None
) -> dict[str, Any]:
    """The answer's figures about the whole trace (``found``: its enrichment row)."""
    # The cost result alone is parsed (the enrichment's text is spliced in as it is).
    cost = cost_result(found[1]) if found is not None else trace_cost(None)
    start = min(row[_START] for row in rows)
    end = max(row[_END] for row in rows)
    return {
        "trace_id": trace_id,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ms": max(0, end - start) / 1e6,
        "span_count": len(rows),
        "error_count": sum(1 for row in rows if row[_STATUS] == "ERROR"),
        "test_links": _test_links(rows),
        "cost_usd": cost.usd,
        "enrichment": None if found is None else orjson.Fragment(found[0]),
    }


def _trace_body(
    trace_id: str, results: list[list[tuple[Any, ...]]], *, full: bool, compact: bool
) -> bytes | None:
    rows, enrichment = results
    if not rows:
        return None
    answer = _header(trace_id, rows, enrichment[0] if enrichment else None)
    if compact:
        return orjson.dumps({**answer, "span_fields": _LEAN_KEYS, "spans": rows})
    keys = _LEAN_KEYS + _FULL_KEYS if full else _LEAN_KEYS
    ordered = _tree_order(rows)
    duration = _DURATION
    spans = []
    for depth, row, kids in ordered:
        if full:
            span = _span_object(row, keys)
        else:  # the common case, inlined: this loop runs once per span
            span = dict(zip(keys, row, strict=True))
            span["duration_ms"] = row[duration] / 1e6
        span["depth"] = depth
        span["children"] = kids
        spans.append(span)
    answer["root_span_ids"] = [row[_ID] for depth, row, _ in ordered if depth == 0]
    answer["spans"] = spans
    return orjson.dumps(answer)


def read_trace_json(
    engine: Engine,
    project_id: int,
    trace_id: str,
    *,
    full: bool = False,
    compact: bool = False,
) -> bytes | None:
    """The trace as the API's JSON, or None when this project has no such trace.

    Spans in depth-first order (orphans as roots, children by start time), each with its
    ``depth`` and ``children``; with ``full``, also each span's attributes, events, links,
    resource, scope and plugin results. With ``compact``, the spans are arrays of the
    ``span_fields`` in start order (no ``depth``, ``children`` or ``root_span_ids``). Read
    in a transaction of its own, sent to the database in one go (:func:`read_in_project`).
    """
    statements = _statements(project_id, trace_id, full=full, compact=compact)
    results = read_in_project(engine, project_id, statements)
    return _trace_body(trace_id, results, full=full, compact=compact)


def get_span_json(
    connection: Connection, project_id: int, trace_id: str, span_id: str
) -> bytes | None:
    """One span with everything stored about it, or None when the trace has no such span."""
    with _cursor(connection) as cursor:
        cursor.execute(
            _SPAN_SQL, {"project_id": project_id, "trace_id": trace_id, "span_id": span_id}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return orjson.dumps(_span_object(row, _LEAN_KEYS + _FULL_KEYS))
