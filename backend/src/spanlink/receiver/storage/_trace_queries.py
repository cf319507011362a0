"""Read queries: the trace list and metrics. Always within one project.

Every query filters on ``project_id`` explicitly *and* runs in a transaction bound to that
project (``project_transaction``), so row-level security backs up each filter.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnClause,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Integer,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
)

from spanlink.receiver.storage._bounds import bound_indexed
from spanlink.receiver.storage._engine import Results, Statements, read_steps_in_project
from spanlink.receiver.storage._search import span_matches, trace_has_text
from spanlink.receiver.storage._tables import (
    scores,
    spans,
    test_results,
    trace_enrichments,
    traces,
)
from spanlink.tracer.support import clamp_int64

__all__ = ["COMMON_TEXT_SPANS", "TraceFilters", "list_traces", "metrics"]

# A trace's cost, as ``_costs.trace_cost`` reads it: the total only when every model call
# was priced (``complete``); null when unknown or when the trace called no model.
_COST_TOTAL: ColumnClause[Any] = literal_column(
    "CASE WHEN trace_enrichments.data #> '{trace,cost,complete}' = 'true'::jsonb "
    "AND jsonb_typeof(trace_enrichments.data #> '{trace,cost,total_cost}') = 'number' "
    "THEN (trace_enrichments.data #>> '{trace,cost,total_cost}')::float8 END"
)


@dataclass(frozen=True, slots=True)
class TraceFilters:
    """Filters of ``GET /api/v1/traces``; ``None`` means "any"."""

    environment: str | None = None
    service: str | None = None
    test_run_id: str | None = None
    test_case_id: str | None = None
    test_result_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    status: str | None = None  # "error" | "ok"
    name: str | None = None
    q: str | None = None
    root_only: bool = False
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    #: The trace (or the result it is the trace of) has a score of this name, with a value
    #: within ``score_min``..``score_max`` when given.
    score_name: str | None = None
    score_min: float | None = None
    score_max: float | None = None


# Every value of a list query is a bound parameter named after its filter (the values are
# :func:`_parameters`), so the SQL of a query depends only on which filters are set: it is
# built and compiled once per shape (:func:`_compiled`), not on every request.
def _p(name: str) -> BindParameter[Any]:
    return bindparam(name)


def _score_condition(f: TraceFilters) -> ColumnElement[bool]:
    sc = scores.c
    cond: list[ColumnElement[bool]] = [
        sc.project_id == _p("project_id"),
        sc.name == _p("score_name"),
    ]
    if f.score_min is not None:
        cond.append(sc.value >= _p("score_min"))
    if f.score_max is not None:
        cond.append(sc.value <= _p("score_max"))
    by_trace = select(sc.trace_id).where(*cond, sc.trace_id.is_not(None))
    r = test_results.c
    by_result = (
        select(r.trace_id)
        .select_from(
            scores.join(test_results, and_(r.project_id == sc.project_id, r.id == sc.result_id))
        )
        .where(*cond, r.trace_id.is_not(None))
    )
    # The ids are collected first, then looked up by primary key (as for the span filters
    # below): with ``IN (subquery)`` the planner joined them against every trace.
    return traces.c.trace_id == any_(func.array(by_trace.union(by_result).scalar_subquery()))


#: The span attributes each identity filter matches: the OpenTelemetry names first, then
#: those of instrumentations that keep their own (OpenLLMetry's association properties,
#: Langfuse's). A trace matches when any of its spans carries the value under any of them.
IDENTITY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "session_id": (
        "session.id",
        "traceloop.association.properties.session_id",
        "langfuse.session.id",
    ),
    "user_id": (
        "user.id",
        "enduser.id",
        "traceloop.association.properties.user_id",
        "langfuse.user.id",
    ),
    "conversation_id": ("gen_ai.conversation.id",),
}


def _as_integer(value: str) -> int | None:
    """The integer an instrumentation may have recorded the id as (``user.id = 42``)."""
    if value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _keys(name: str, keys: tuple[str, ...]) -> list[ColumnElement[Any]]:
    """The attribute names of identity filter ``name``: parameters ``{name}_key0``, ..."""
    return [cast(bindparam(f"{name}_key{i}", type_=String), Text) for i in range(len(keys))]


def _attribute_is(name: str, keys: tuple[str, ...], value: str) -> ColumnElement[bool]:
    """Some span attribute under ``keys`` equals the filter ``name`` (``value``; for digits,
    also that integer: parameter ``{name}_int``).

    Containment (``@>``) is what the GIN index on ``attributes`` answers.
    """
    wanted: list[ColumnElement[Any]] = [cast(bindparam(name, type_=String), Text)]
    if _as_integer(value) is not None:
        wanted.append(cast(bindparam(f"{name}_int", type_=BigInteger), BigInteger))
    return or_(
        *(
            spans.c.attributes.op("@>", is_comparison=True)(func.jsonb_build_object(key, candidate))
            for key in _keys(name, keys)
            for candidate in wanted
        )
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


def _conditions(f: TraceFilters) -> list[ColumnElement[bool]]:
    t = traces.c
    where: list[ColumnElement[bool]] = [t.project_id == _p("project_id")]
    if f.environment is not None:
        where.append(t.environment == _p("environment"))
    if f.service is not None:
        where.append(t.service_name == _p("service"))
    if f.status == "error":
        where.append(t.error_count > literal_column("0"))
    elif f.status == "ok":
        where.append(t.error_count == literal_column("0"))
    if f.start_ns is not None:
        where.append(t.start_ns >= _p("start_ns"))
    if f.end_ns is not None:
        where.append(t.start_ns <= _p("end_ns"))
    if f.min_duration_ns is not None:
        where.append(t.duration_ns >= _p("min_duration_ns"))
    if f.max_duration_ns is not None:
        where.append(t.duration_ns <= _p("max_duration_ns"))
    if f.score_name is not None:
        where.append(_score_condition(f))

    # Span-level conditions: the trace has a span matching all of them.
    s = spans.c
    span_where: list[ColumnElement[bool]] = []
    if f.test_run_id is not None:
        span_where.append(s.test_run_id == _p("test_run_id"))
    if f.test_case_id is not None:
        span_where.append(s.test_case_id == _p("test_case_id"))
    if f.test_result_id is not None:
        span_where.append(s.test_result_id == _p("test_result_id"))
    for name, keys in IDENTITY_ATTRIBUTES.items():
        value = getattr(f, name)
        if value is not None:
            span_where.append(_attribute_is(name, keys, value))
    if f.name is not None:
        span_where.append(s.name == _p("name"))
    if f.q is not None:
        span_where.append(span_matches(_p("project_id"), _p("q")))
    if span_where:
        if f.root_only:
            span_where.append(s.parent_span_id.is_(None))
        # The matching trace ids are collected first (one index scan on spans), then looked
        # up by primary key: the span filters are selective, and the planner cannot know it.
        matching = (
            select(s.trace_id).where(s.project_id == _p("project_id"), *span_where).distinct()
        )
        where.append(t.trace_id == any_(func.array(matching.scalar_subquery())))
    elif f.root_only:
        where.append(t.has_root.is_(True))
    return where


def _collects_ids(f: TraceFilters) -> bool:
    """Whether :func:`_conditions` collects the matching trace ids first (a span-level or
    a score filter), rather than walking an index of ``traces``."""
    return f.score_name is not None or any(
        value is not None
        for value in (
            f.test_run_id,
            f.test_case_id,
            f.test_result_id,
            f.session_id,
            f.user_id,
            f.conversation_id,
            f.name,
            f.q,
        )
    )


def _parameters(
    project_id: int, f: TraceFilters, limit: int = 0, offset: int = 0
) -> dict[str, Any]:
    """The values of the parameters of :func:`_conditions` (and of the page's limit and
    offset); those of filters that are not set are unused."""
    params: dict[str, Any] = {
        "project_id": project_id,
        "environment": bound_indexed(f.environment),
        "service": bound_indexed(f.service),
        "start_ns": f.start_ns,
        "end_ns": f.end_ns,
        "min_duration_ns": f.min_duration_ns,
        "max_duration_ns": f.max_duration_ns,
        "score_name": f.score_name,
        "score_min": f.score_min,
        "score_max": f.score_max,
        "test_run_id": bound_indexed(f.test_run_id),
        "test_case_id": bound_indexed(f.test_case_id),
        "test_result_id": bound_indexed(f.test_result_id),
        "name": bound_indexed(f.name),
        "q": f.q,
        "limit": limit,
        "offset": offset,
    }
    for name, keys in IDENTITY_ATTRIBUTES.items():
        value = getattr(f, name)
        if value is not None:
            params[name] = value
            params[f"{name}_int"] = _as_integer(value)
            params.update((f"{name}_key{i}", key) for i, key in enumerate(keys))
    return params


def _shape(f: TraceFilters) -> tuple[Any, ...]:
    """What the SQL of ``f``'s queries depends on: which filters are set, the status, root
    only, and whether each identity value is also an integer."""
    return (
        tuple(getattr(f, name) is not None for name in _FILTER_NAMES),
        f.status,
        f.root_only,
        tuple(
            _as_integer(getattr(f, name)) is not None
            for name in IDENTITY_ATTRIBUTES
            if getattr(f, name) is not None
        ),
    )


_FILTER_NAMES = tuple(field.name for field in fields(TraceFilters))
# Every parameter name :func:`_parameters` may give a value.
_PARAMETER_NAMES = frozenset(
    _parameters(0, TraceFilters(session_id="0", user_id="0", conversation_id="0"))
)


def _sql(statement: Any, dialect: Dialect) -> str:
    """``statement`` as psycopg SQL with ``%(name)s`` parameters, all of them named ones
    (a value left in the statement would be compiled into its SQL for good)."""
    compiled = statement.compile(dialect=dialect)
    unnamed = set(compiled.binds) - _PARAMETER_NAMES
    assert not unnamed, f"parameters not named by _parameters: {sorted(unnamed)}"
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


def _only_text(f: TraceFilters) -> bool:
    """The text is the only span-level filter (the others are selective by nature)."""
    return f.q is not None and all(
        value is None
        for value in (
            f.test_run_id,
            f.test_case_id,
            f.test_result_id,
            f.session_id,
            f.user_id,
            f.conversation_id,
            f.name,
        )
    )


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
    """The SQL of the list queries of ``f``'s shape (:func:`_shape`), compiled once."""
    shape = _shape(f)
    sql = _COMPILED.get(shape)
    if sql is None:
        if len(_COMPILED) >= 1024:
            _COMPILED.clear()
        sql = _COMPILED[shape] = _compile(f, dialect)
    return sql


def _compile(f: TraceFilters, dialect: Dialect) -> _ListSQL:
    """The statements of :func:`_compiled` (``f``'s values are not read)."""
    where = and_(*_conditions(f))
    t = traces.c
    count = select(func.count()).select_from(traces).where(where)
    # The total rides on every row of the page: one statement and one round trip for the
    # page and its total. When the matching ids are collected first, every match is read
    # for the sort anyway, and counted as it is (a window over them); a sub-select would
    # collect the ids a second time. Otherwise the page reads only its rows in index
    # order, and the count is a sub-select Postgres computes once.
    total: ColumnElement[Any] = func.count().over() if _collects_ids(f) else count.scalar_subquery()
    page = (
        _page_select(traces)
        .add_columns(total.label("total"))
        .where(where)
        .order_by(t.start_ns.desc(), t.trace_id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    walk = candidates_count = None
    if _only_text(f):
        assert f.q is not None
        others = _conditions(replace(f, q=None, root_only=False))
        candidates = (
            select(
                traces,
                func.row_number().over(order_by=(t.start_ns.desc(), t.trace_id)).label("walked"),
            )
            .where(*others)
            .subquery("candidates")
        )
        c = candidates.c
        probe = trace_has_text(_p("project_id"), c.trace_id, _p("q"), f.root_only)
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
    params = _parameters(project_id, filters, limit, offset)
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


_METRICS = text(
    """
    SELECT count(*) AS trace_count,
           count(*) FILTER (WHERE error_count > 0) AS error_traces,
           coalesce(sum(span_count), 0) AS span_count,
           coalesce(sum(error_count), 0) AS error_spans,
           -- Every span's tokens, with a model or without (the traces' rollups).
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p99
    FROM traces
    WHERE project_id = :project_id AND start_ns >= :start_ns AND start_ns <= :end_ns
    """
)

_MODEL_TOKENS = text(
    """
    SELECT model, count(*) AS span_count,
           count(*) FILTER (WHERE status_code = 'ERROR') AS error_count,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p95,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ns) / 1e6 AS p99
    FROM spans
    WHERE project_id = :project_id AND model IS NOT NULL
      AND start_ns >= :start_ns AND start_ns <= :end_ns
    GROUP BY model ORDER BY model
    """
)

# The cost of the range, by the rule of ``_costs``: known only when every trace in it was
# enriched and every model call priced (``complete``).
_TOTAL_COST = text(
    """
    SELECT count(*) FILTER (WHERE e.trace_id IS NULL) AS unenriched,
           count(*) FILTER (WHERE e.data #> '{trace,cost}' IS NOT NULL
                            AND e.data #> '{trace,cost,complete}' IS DISTINCT FROM 'true'::jsonb)
               AS incomplete,
           sum(CASE WHEN jsonb_typeof(e.data #> '{trace,cost,total_cost}') = 'number'
                    THEN (e.data #>> '{trace,cost,total_cost}')::float8 END) AS cost_usd
    FROM traces t
    LEFT JOIN trace_enrichments e ON e.project_id = t.project_id AND e.trace_id = t.trace_id
    WHERE t.project_id = :project_id AND t.start_ns >= :start_ns AND t.start_ns <= :end_ns
    """
)

# Cost comes from the traces' enrichment: the cost plugin's documented trace result field
# ``cost_by_model`` ({model: USD}, see its README) at data.trace.cost; numbers only.
_MODEL_COST = text(
    """
    SELECT m.key AS model, sum((m.value #>> '{}')::float8) AS cost_usd
    FROM traces t
    JOIN trace_enrichments e ON e.project_id = t.project_id AND e.trace_id = t.trace_id
    CROSS JOIN LATERAL jsonb_each(
        CASE WHEN jsonb_typeof(e.data #> '{trace,cost,cost_by_model}') = 'object'
             THEN e.data #> '{trace,cost,cost_by_model}' ELSE '{}'::jsonb END) m
    WHERE t.project_id = :project_id AND t.start_ns >= :start_ns AND t.start_ns <= :end_ns
      AND jsonb_typeof(m.value) = 'number'
    GROUP BY m.key
    """
)

# Models whose cost in the range is unknown: a call the cost plugin could not price
# (``unknown_models``, ``unpriced_models``), or a span of a trace not enriched yet.
_UNKNOWN_COST_MODELS = text(
    """
    SELECT DISTINCT m.model
    FROM traces t
    JOIN trace_enrichments e ON e.project_id = t.project_id AND e.trace_id = t.trace_id
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(e.data #> '{trace,cost,unknown_models}') = 'array'
             THEN e.data #> '{trace,cost,unknown_models}' ELSE '[]'::jsonb END
        || CASE WHEN jsonb_typeof(e.data #> '{trace,cost,unpriced_models}') = 'array'
                THEN e.data #> '{trace,cost,unpriced_models}' ELSE '[]'::jsonb END) m(model)
    WHERE t.project_id = :project_id AND t.start_ns >= :start_ns AND t.start_ns <= :end_ns
    UNION
    SELECT DISTINCT s.model
    FROM traces t
    JOIN spans s ON s.project_id = t.project_id AND s.trace_id = t.trace_id
    LEFT JOIN trace_enrichments e ON e.project_id = t.project_id AND e.trace_id = t.trace_id
    WHERE t.project_id = :project_id AND t.start_ns >= :start_ns AND t.start_ns <= :end_ns
      AND e.trace_id IS NULL AND s.model IS NOT NULL
    """
)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _model_row(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "span_count": 0,
        "error_count": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "latency_ms": {"p50": None, "p95": None, "p99": None},
        "cost_usd": None,
    }


def metrics(connection: Connection, project_id: int, start_ns: int, end_ns: int) -> dict[str, Any]:
    """Latency percentiles, error rate, tokens and cost by model for traces in a time range.

    Token totals count every span of those traces, with a model or without. A cost is
    null when unknown (some model call unpriced, or a trace not enriched yet), never 0.
    """
    params = {"project_id": project_id, "start_ns": start_ns, "end_ns": end_ns}
    row = connection.execute(_METRICS, params).one()
    cost = connection.execute(_TOTAL_COST, params).one()
    priced = {r.model: float(r.cost_usd) for r in connection.execute(_MODEL_COST, params)}
    unknown = {r.model for r in connection.execute(_UNKNOWN_COST_MODELS, params)}
    models: dict[str, dict[str, Any]] = {}
    for r in connection.execute(_MODEL_TOKENS, params):
        models[r.model] = {
            **_model_row(r.model),
            "span_count": r.span_count,
            "error_count": r.error_count,
            "input_tokens": clamp_int64(int(r.input_tokens)),
            "output_tokens": clamp_int64(int(r.output_tokens)),
            "latency_ms": {"p50": _round(r.p50), "p95": _round(r.p95), "p99": _round(r.p99)},
        }
    for model in priced:  # priced by enrichment, no span of the range names it
        models.setdefault(model, _model_row(model))
    for model, item in models.items():
        item["cost_usd"] = priced.get(model) if model not in unknown else None
    trace_count = int(row.trace_count)
    known = cost.unenriched == 0 and cost.incomplete == 0 and cost.cost_usd is not None
    return {
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "trace_count": trace_count,
        "span_count": int(row.span_count),
        "error_trace_count": int(row.error_traces),
        "error_rate": (int(row.error_traces) / trace_count) if trace_count else 0.0,
        "latency_ms": {"p50": _round(row.p50), "p95": _round(row.p95), "p99": _round(row.p99)},
        "input_tokens": int(row.input_tokens),
        "output_tokens": int(row.output_tokens),
        "cost_usd": float(cost.cost_usd) if known else None,
        "models": [models[name] for name in sorted(models)],
    }
