"""The metrics page's figures over a time range: traces, errors, latency, tokens and cost
by model. Always within one project (explicit ``project_id`` and row-level security)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from spanlink.tracer.support import clamp_int64

__all__ = ["metrics"]

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
