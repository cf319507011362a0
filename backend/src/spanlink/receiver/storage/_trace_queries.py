"""The trace list: pages and their totals, read in one round trip. Always within one project.

Every query filters on ``project_id`` explicitly *and* runs in a transaction bound to that
project (``project_transaction``), so row-level security backs up each filter.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Dialect,
    Engine,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    select,
)

from spanlink.receiver.storage._engine import Results, Statements, read_steps_in_project
from spanlink.receiver.storage._search import trace_has_text
from spanlink.receiver.storage._tables import (
    trace_enrichments,
    traces,
)
from spanlink.receiver.storage._trace_filters import (
    PARAMETER_NAMES,
    TraceFilters,
    collects_ids,
    conditions,
    filter_parameters,
    filter_shape,
    only_text,
    param,
)
from spanlink.tracer.support import clamp_int64

__all__ = ["COMMON_TEXT_SPANS", "TraceFilters", "list_traces"]

# A trace's cost, as ``_costs.trace_cost`` reads it: the total only when every model call
# was priced (``complete``); null when unknown or when the trace called no model.
_COST_TOTAL: ColumnClause[Any] = literal_column(
    "CASE WHEN trace_enrichments.data #> '{trace,cost,complete}' = 'true'::jsonb "
    "AND jsonb_typeof(trace_enrichments.data #> '{trace,cost,total_cost}') = 'number' "
    "THEN (trace_enrichments.data #>> '{trace,cost,total_cost}')::float8 END"
)


#: Above this many matching spans (the planner's estimate, from the lexeme statistics of
#: the stored vectors), a text search walks the traces newest first and checks each for a
#: matching span, instead of collecting every matching span's trace first; its total is
#: then extrapolated from the walk.
COMMON_TEXT_SPANS = 20_000

_ESTIMATE_MATCHES = (
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM span_search WHERE project_id = %(project_id)s "
    "AND search @@ websearch_to_tsquery('english', %(q)s)"
)


def _is_common_text(plan: Any) -> bool:
    """Whether the plan of :data:`_ESTIMATE_MATCHES` expects more than
    :data:`COMMON_TEXT_SPANS` spans to match."""
    if isinstance(plan, (str, bytes)):
        plan = json.loads(plan)
    return bool(plan[0]["Plan"]["Plan Rows"] > COMMON_TEXT_SPANS)


def _sql(statement: Any, dialect: Dialect) -> str:
    """``statement`` as psycopg SQL with ``%(name)s`` parameters, all of them named ones
    (a value left in the statement would be compiled into its SQL for good)."""
    compiled = statement.compile(dialect=dialect)
    unnamed = set(compiled.binds) - PARAMETER_NAMES
    assert not unnamed, f"parameters not named by filter_parameters: {sorted(unnamed)}"
    return str(compiled)


_LIST_COLUMNS = (
    "trace_id",
    "root_name",
    "start_ns",
    "end_ns",
    "duration_ns",
    "span_count",
    "error_count",
    "environment",
    "service_name",
    "test_run_id",
    "test_case_id",
    "test_result_id",
    "input_tokens",
    "output_tokens",
)


def _page_select(source: Any) -> Any:
    """The list columns of ``source`` (``traces`` or a sub-select of it) with the cost."""
    c = source.c
    return select(*(c[name] for name in _LIST_COLUMNS), _COST_TOTAL.label("cost_usd")).select_from(
        source.outerjoin(
            trace_enrichments,
            and_(
                trace_enrichments.c.project_id == c.project_id,
                trace_enrichments.c.trace_id == c.trace_id,
            ),
        )
    )


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    """A page item from a row of :func:`_page_select` (further columns ignored)."""
    (
        trace_id,
        root_name,
        start_ns,
        end_ns,
        duration_ns,
        span_count,
        error_count,
        environment,
        service_name,
        test_run_id,
        test_case_id,
        test_result_id,
        input_tokens,
        output_tokens,
        cost_usd,
    ) = row[:15]
    return {
        "trace_id": trace_id,
        "name": root_name,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "duration_ms": duration_ns / 1e6,
        "span_count": span_count,
        "error_count": error_count,
        "environment": environment,
        "service_name": service_name,
        "test_run_id": test_run_id,
        "test_case_id": test_case_id,
        "test_result_id": test_result_id,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": clamp_int64(input_tokens + output_tokens),
        "cost_usd": cost_usd,
    }


class _ListSQL(NamedTuple):
    """The statements of one shape of list query (:func:`_compiled`)."""

    #: The page (newest first), each row with the total matching the filters.
    page: str
    #: The total matching the filters.
    total: str
    #: A text search for a word in many spans: the page of the walk (each row with how many
    #: candidates were walked), and the number of candidates (the other filters' total).
    walk: str | None
    candidates: str | None


# Shape -> its compiled statements. Bounded by the shapes clients use (a handful); cleared
# rather than grown past a bound that no real mix of filters reaches.
_COMPILED: dict[tuple[Any, ...], _ListSQL] = {}


def _compiled(f: TraceFilters, dialect: Dialect) -> _ListSQL:
    """The SQL of the list queries of ``f``'s shape (:func:`filter_shape`), compiled once."""
    shape = filter_shape(f)
    sql = _COMPILED.get(shape)
    if sql is None:
        if len(_COMPILED) >= 1024:
            _COMPILED.clear()
        sql = _COMPILED[shape] = _compile(f, dialect)
    return sql


def _compile(f: TraceFilters, dialect: Dialect) -> _ListSQL:
    """The statements of :func:`_compiled` (``f``'s values are not read)."""
    where = and_(*conditions(f))
    t = traces.c
    count = select(func.count()).select_from(traces).where(where)
    # The total rides on every row of the page: one statement and one round trip for the
    # page and its total. When the matching ids are collected first, every match is read
    # for the sort anyway, and counted as it is (a window over them); a sub-select would
    # collect the ids a second time. Otherwise the page reads only its rows in index
    # order, and the count is a sub-select Postgres computes once.
    total: ColumnElement[Any] = func.count().over() if collects_ids(f) else count.scalar_subquery()
    page = (
        _page_select(traces)
        .add_columns(total.label("total"))
        .where(where)
        .order_by(t.start_ns.desc(), t.trace_id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    walk = candidates_count = None
    if only_text(f):
        assert f.q is not None
        others = conditions(replace(f, q=None, root_only=False))
        candidates = (
            select(
                traces,
                func.row_number().over(order_by=(t.start_ns.desc(), t.trace_id)).label("walked"),
            )
            .where(*others)
            .subquery("candidates")
        )
        c = candidates.c
        probe = trace_has_text(param("project_id"), c.trace_id, param("q"), f.root_only)
        # The window numbers the candidates before the match is checked (a condition above
        # a window function is not pushed below it), so the last row's number is how many
        # candidates the page walked.
        walk = _sql(
            _page_select(candidates)
            .add_columns(c.walked)
            .where(probe)
            .order_by(c.start_ns.desc(), c.trace_id)
            .limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer)),
            dialect,
        )
        candidates_count = _sql(select(func.count()).select_from(traces).where(*others), dialect)
    return _ListSQL(_sql(page, dialect), _sql(count, dialect), walk, candidates_count)


def _scalar(results: Results) -> Any:
    ((value,),) = results[0]
    return value


def _list_common_text(
    sql: _ListSQL, params: dict[str, Any], limit: int, offset: int
) -> Generator[Statements, Results, tuple[list[dict[str, Any]], int, bool]]:
    """A text search for a word in many spans: the traces matching the other filters are
    walked newest first, each checked for a matching span (a primary-key probe), until the
    page is full. The total is exact when the walk reached the last candidate, else the
    number of candidates times the share of the walked ones that matched (an estimate)."""
    assert sql.walk is not None and sql.candidates is not None
    (rows,) = yield [(sql.walk, params)]
    items = [_item(row) for row in rows]
    if rows and len(rows) < limit:
        return items, offset + len(rows), False  # the walk reached the end: exact
    total_candidates = int(_scalar((yield [(sql.candidates, params)])))
    if not rows:
        if offset == 0:
            return [], 0, False
        # Paged past the last match: the walk visited every candidate, but counted none.
        return [], int(_scalar((yield [(sql.total, params)]))), False
    walked = int(rows[-1][-1])
    matched = offset + len(rows)
    if walked >= total_candidates:
        return items, matched, False
    return items, max(matched + 1, round(total_candidates * matched / walked)), True


def _list_steps(
    sql: _ListSQL, project_id: int, filters: TraceFilters, limit: int, offset: int
) -> Generator[Statements, Results, tuple[list[dict[str, Any]], int, bool]]:
    """The reads of :func:`list_traces`, step by step (:func:`read_steps_in_project`)."""
    params = filter_parameters(project_id, filters, limit, offset)
    if sql.walk is not None and _is_common_text(_scalar((yield [(_ESTIMATE_MATCHES, params)]))):
        return (yield from _list_common_text(sql, params, limit, offset))
    (page,) = yield [(sql.page, params)]
    rows = [_item(row) for row in page]
    if page:
        total = page[0][-1]
    elif offset == 0:
        total = 0
    else:  # paged past the end: no row carries the total
        total = _scalar((yield [(sql.total, params)]))
    return rows, int(total), False


def list_traces(
    engine: Engine, project_id: int, filters: TraceFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of traces (newest first), the total matching the filters and whether that
    total is an estimate (only for a text search matching many spans).

    Read-only, in the project's scope, one round trip per step (:func:`read_steps_in_project`):
    one for most pages; a text search first asks the planner how common its words are.
    """
    return read_steps_in_project(
        engine,
        project_id,
        _list_steps(_compiled(filters, engine.dialect), project_id, filters, limit, offset),
    )
