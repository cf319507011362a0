"""Read queries: the trace list and metrics. Always within one project.

Every query filters on ``project_id`` explicitly *and* runs in a transaction bound to that
project (``project_transaction``), so row-level security backs up each filter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    Connection,
    Text,
    and_,
    any_,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)

from spanlink.receiver.storage._bounds import bound_indexed
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


def _score_condition(project_id: int, f: TraceFilters) -> ColumnElement[bool]:
    sc = scores.c
    cond: list[ColumnElement[bool]] = [sc.project_id == project_id, sc.name == f.score_name]
    if f.score_min is not None:
        cond.append(sc.value >= f.score_min)
    if f.score_max is not None:
        cond.append(sc.value <= f.score_max)
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


def _attribute_is(keys: tuple[str, ...], value: str) -> ColumnElement[bool]:
    """Some span attribute under ``keys`` equals ``value`` (or, for digits, that integer).

    Containment (``@>``) is what the GIN index on ``attributes`` answers.
    """
    wanted: list[ColumnElement[Any]] = [cast(literal(value), Text)]
    if value.isascii() and value.isdigit() and len(value) < 19:
        # An instrumentation that records the id as a number (``user.id = 42``).
        wanted.append(cast(literal(int(value)), BigInteger))
    return or_(
        *(
            spans.c.attributes.op("@>", is_comparison=True)(
                func.jsonb_build_object(cast(literal(key), Text), candidate)
            )
            for key in keys
            for candidate in wanted
        )
    )


#: Above this many matching spans (the planner's estimate, from the lexeme statistics of
#: the stored vectors), a text search walks the traces newest first and checks each for a
#: matching span, instead of collecting every matching span's trace first; its total is
#: then extrapolated from the walk.
COMMON_TEXT_SPANS = 20_000

_ESTIMATE_MATCHES = text(
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM span_search WHERE project_id = :project_id "
    "AND search @@ websearch_to_tsquery('english', :q)"
)


def _is_common_text(connection: Connection, project_id: int, q: str) -> bool:
    """Whether Postgres expects more than :data:`COMMON_TEXT_SPANS` spans to match ``q``."""
    plan = connection.execute(_ESTIMATE_MATCHES, {"project_id": project_id, "q": q}).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return bool(plan[0]["Plan"]["Plan Rows"] > COMMON_TEXT_SPANS)


def _conditions(project_id: int, f: TraceFilters) -> list[ColumnElement[bool]]:
    t = traces.c
    where: list[ColumnElement[bool]] = [t.project_id == project_id]
    if f.environment is not None:
        where.append(t.environment == bound_indexed(f.environment))
    if f.service is not None:
        where.append(t.service_name == bound_indexed(f.service))
    if f.status == "error":
        where.append(t.error_count > 0)
    elif f.status == "ok":
        where.append(t.error_count == 0)
    if f.start_ns is not None:
        where.append(t.start_ns >= f.start_ns)
    if f.end_ns is not None:
        where.append(t.start_ns <= f.end_ns)
    if f.min_duration_ns is not None:
        where.append(t.duration_ns >= f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.append(t.duration_ns <= f.max_duration_ns)
    if f.score_name is not None:
        where.append(_score_condition(project_id, f))

    # Span-level conditions: the trace has a span matching all of them.
    s = spans.c
    span_where: list[ColumnElement[bool]] = []
    if f.test_run_id is not None:
        span_where.append(s.test_run_id == bound_indexed(f.test_run_id))
    if f.test_case_id is not None:
        span_where.append(s.test_case_id == bound_indexed(f.test_case_id))
    if f.test_result_id is not None:
        span_where.append(s.test_result_id == bound_indexed(f.test_result_id))
    for name, keys in IDENTITY_ATTRIBUTES.items():
        value = getattr(f, name)
        if value is not None:
            span_where.append(_attribute_is(keys, value))
    if f.name is not None:
        span_where.append(s.name == bound_indexed(f.name))
    if f.q is not None:
        span_where.append(span_matches(project_id, f.q))
    if span_where:
        if f.root_only:
            span_where.append(s.parent_span_id.is_(None))
        # The matching trace ids are collected first (one index scan on spans), then looked
        # up by primary key: the span filters are selective, and the planner cannot know it.
        matching = select(s.trace_id).where(s.project_id == project_id, *span_where).distinct()
        where.append(t.trace_id == any_(func.array(matching.scalar_subquery())))
    elif f.root_only:
        where.append(t.has_root.is_(True))
    return where


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


def _item(row: Any) -> dict[str, Any]:
    return {
        "trace_id": row["trace_id"],
        "name": row["root_name"],
        "start_time_unix_nano": row["start_ns"],
        "end_time_unix_nano": row["end_ns"],
        "duration_ms": row["duration_ns"] / 1e6,
        "span_count": row["span_count"],
        "error_count": row["error_count"],
        "environment": row["environment"],
        "service_name": row["service_name"],
        "test_run_id": row["test_run_id"],
        "test_case_id": row["test_case_id"],
        "test_result_id": row["test_result_id"],
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "total_tokens": clamp_int64(row["input_tokens"] + row["output_tokens"]),
        "cost_usd": row["cost_usd"],
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


def _list_common_text(
    connection: Connection, project_id: int, f: TraceFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """A text search for a word in many spans: the traces matching the other filters are
    walked newest first, each checked for a matching span (a primary-key probe), until the
    page is full. The total is exact when the walk reached the last candidate, else the
    number of candidates times the share of the walked ones that matched (an estimate)."""
    assert f.q is not None
    others = _conditions(project_id, replace(f, q=None, root_only=False))
    t = traces.c
    candidates = (
        select(
            traces,
            func.row_number().over(order_by=(t.start_ns.desc(), t.trace_id)).label("walked"),
        )
        .where(*others)
        .subquery("candidates")
    )
    c = candidates.c
    probe = trace_has_text(project_id, c.trace_id, f.q, f.root_only)
    # The window numbers the candidates before the match is checked (a condition above a
    # window function is not pushed below it), so the last row's number is how many
    # candidates the page walked.
    rows = (
        connection.execute(
            _page_select(candidates)
            .add_columns(c.walked)
            .where(probe)
            .order_by(c.start_ns.desc(), c.trace_id)
            .limit(limit)
            .offset(offset)
        )
        .mappings()
        .all()
    )
    items = [_item(row) for row in rows]
    if rows and len(rows) < limit:
        return items, offset + len(rows), False  # the walk reached the end: exact
    total_candidates = int(
        connection.execute(select(func.count()).select_from(traces).where(*others)).scalar_one()
    )
    if not rows:
        if offset == 0:
            return [], 0, False
        # Paged past the last match: the walk visited every candidate, but counted none.
        exact = select(func.count()).select_from(traces).where(*_conditions(project_id, f))
        return [], int(connection.execute(exact).scalar_one()), False
    walked = int(rows[-1]["walked"])
    matched = offset + len(rows)
    if walked >= total_candidates:
        return items, matched, False
    return items, max(matched + 1, round(total_candidates * matched / walked)), True


def list_traces(
    connection: Connection, project_id: int, filters: TraceFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of traces (newest first), the total matching the filters and whether that
    total is an estimate (only for a text search matching many spans)."""
    if (
        filters.q is not None
        and _only_text(filters)
        and _is_common_text(connection, project_id, filters.q)
    ):
        return _list_common_text(connection, project_id, filters, limit, offset)
    where = and_(*_conditions(project_id, filters))
    t = traces.c
    count = select(func.count()).select_from(traces).where(where)
    # The total rides on every row of the page (Postgres computes it once): one statement
    # and one round trip for the page and its total.
    page = (
        connection.execute(
            _page_select(traces)
            .add_columns(count.scalar_subquery().label("total"))
            .where(where)
            .order_by(t.start_ns.desc(), t.trace_id)
            .limit(limit)
            .offset(offset)
        )
        .mappings()
        .all()
    )
    rows = [_item(row) for row in page]
    if page:
        total = page[0]["total"]
    elif offset == 0:
        total = 0
    else:  # paged past the end: no row carries the total
        total = connection.execute(count).scalar_one()
    return rows, int(total), False


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
