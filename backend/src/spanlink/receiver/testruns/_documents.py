"""Test runs read back as API documents: the list with progress, one run with its results
(linked traces, tokens, cost and anomalies from the stored enrichment).

Every function takes a connection in a transaction scoped to the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.storage import scores_by_result, sum_costs, trace_cost
from spanlink.receiver.storage._json import iso
from spanlink.receiver.testruns._records import CLOSED_STATUSES, OPEN_STATUSES

__all__ = ["get_run", "list_runs"]

_RUN_COLUMNS = "id, name, status, configuration_id, metadata, created_at, started_at, finished_at"

_PROGRESS = """
SELECT run_id, status, count(*) FROM test_results
WHERE run_id = ANY(:ids) GROUP BY run_id, status
"""


def _run_doc(row: Any, counts: Mapping[str, int]) -> dict[str, Any]:
    meta = dict(row[4] or {})
    total = sum(counts.values())
    done = sum(count for status, count in counts.items() if status in CLOSED_STATUSES)
    return {
        "id": row[0],
        "name": row[1],
        "status": row[2],
        "configuration_id": row[3],
        "source": meta.get("source", "endpoint"),
        "function": meta.get("function"),
        "environment": meta.get("environment"),
        "linking_strategy": meta.get("linking_strategy"),
        "metadata": {
            key: value
            for key, value in meta.items()
            if key
            not in (
                "function",
                "environment",
                "linking_strategy",
                "executor",
                "executor_seen",
                "source",
                "reporter_seen",
            )
        },
        "created_at": iso(row[5]),
        "started_at": iso(row[6]),
        "finished_at": iso(row[7]),
        "progress": {
            "total": total,
            "done": done,
            "counts": {status: counts.get(status, 0) for status in OPEN_STATUSES + CLOSED_STATUSES},
        },
    }


def _counts(connection: Connection, run_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        for run_id, status, count in connection.execute(text(_PROGRESS), {"ids": run_ids}):
            counts[run_id][status] = int(count)
    return counts


def list_runs(
    connection: Connection, project_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The project's runs, newest first, with progress; and the total."""
    total = connection.execute(
        text("SELECT count(*) FROM test_runs WHERE project_id = :p"), {"p": project_id}
    ).scalar_one()
    rows = connection.execute(
        text(
            f"SELECT {_RUN_COLUMNS} FROM test_runs WHERE project_id = :p "
            "ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
        ),
        {"p": project_id, "limit": limit, "offset": offset},
    ).all()
    counts = _counts(connection, [row[0] for row in rows])
    return [_run_doc(row, counts[row[0]]) for row in rows], int(total)


# Per result: the traces of its linked spans, their span counts, tokens, and the stored
# enrichment of each trace (cost and anomalies; null when not computed yet).
_RESULTS = """
WITH linked AS (
    SELECT test_result_id AS result_id, trace_id, count(*) AS span_count,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens
    FROM spans WHERE project_id = :p AND test_run_id = :run AND test_result_id IS NOT NULL
    GROUP BY test_result_id, trace_id
)
SELECT r.id, r.case_id, r.status, r.input, r.output, r.error, r.trace_id, r.duration_ms,
       r.metadata, r.created_at, r.started_at, r.finished_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'trace_id', l.trace_id, 'span_count', l.span_count,
                   'input_tokens', l.input_tokens, 'output_tokens', l.output_tokens,
                   'enrichment', e.data, 'enriched_span_count', e.span_count)
                 ORDER BY l.trace_id)
                 FROM linked l
                 LEFT JOIN trace_enrichments e
                   ON e.project_id = :p AND e.trace_id = l.trace_id
                 WHERE l.result_id = r.id), '[]'::jsonb)
FROM test_results r
WHERE r.project_id = :p AND r.run_id = :run
ORDER BY r.created_at, r.case_id
"""


def _trace_result(enrichment: Mapping[str, Any], plugin: str) -> Any:
    """One plugin's trace-level result from a stored enrichment (``data["trace"][plugin]``)."""
    trace = enrichment.get("trace")
    return trace.get(plugin) if isinstance(trace, Mapping) else None


def _anomalies(enrichment: Mapping[str, Any]) -> list[Any]:
    found = _trace_result(enrichment, "anomaly")
    if isinstance(found, Mapping):
        items = found.get("anomalies")
        return list(items) if isinstance(items, list) else []
    return []


def _result_doc(row: Any) -> dict[str, Any]:
    meta = dict(row[8] or {})
    traces = list(row[12] or [])
    enrichments = [t.get("enrichment") for t in traces if isinstance(t.get("enrichment"), dict)]
    span_count = sum(int(t.get("span_count") or 0) for t in traces)
    return {
        "id": row[0],
        "case_id": row[1],
        "status": row[2],
        "input": row[3],
        "expected_output": meta.get("expected_output") if meta.get("has_expected") else None,
        "output": row[4],
        "error": row[5],
        "trace_id": row[6],
        "duration_ms": row[7],
        "created_at": iso(row[9]),
        "started_at": iso(row[10]),
        "finished_at": iso(row[11]),
        # What a generator streamed so far, while the case runs; the output replaces it.
        "partial_output": meta.get("partial_output") if row[2] == "running" else None,
        "partial_truncated": bool(meta.get("partial_truncated")) if row[2] == "running" else False,
        "chunk_count": meta.get("chunk_count"),
        "trace_ids": [t["trace_id"] for t in traces],
        "span_count": span_count,
        "reported_span_count": meta.get("span_count"),
        "input_tokens": sum(int(t.get("input_tokens") or 0) for t in traces),
        "output_tokens": sum(int(t.get("output_tokens") or 0) for t in traces),
        # Unknown (None) until every linked trace is enriched with all its model calls
        # priced; None too when no linked trace called a model.
        "cost_usd": sum_costs(trace_cost(t.get("enrichment")) for t in traces),
        "anomalies": [a for e in enrichments for a in _anomalies(e)] if enrichments else None,
        "enriched": bool(traces)
        and all(
            isinstance(t.get("enrichment"), dict)
            and int(t.get("enriched_span_count") or 0) >= int(t.get("span_count") or 0)
            for t in traces
        ),
        "traces": traces,
        # Filled from the scores table by get_run (results stored before it had one kept
        # their scores in the metadata).
        "scores": list(meta.get("scores") or []),
        "skip_reason": meta.get("reason"),
    }


def get_run(connection: Connection, project_id: int, run_id: str) -> dict[str, Any] | None:
    """One run with progress and every case's result, linked traces, tokens, cost, anomalies."""
    row = connection.execute(
        text(f"SELECT {_RUN_COLUMNS} FROM test_runs WHERE project_id = :p AND id = :id"),
        {"p": project_id, "id": run_id},
    ).first()
    if row is None:
        return None
    results = [
        _result_doc(r) for r in connection.execute(text(_RESULTS), {"p": project_id, "run": run_id})
    ]
    stored = scores_by_result(connection, project_id, run_id)
    for result in results:
        scores = stored.get(result["id"])
        if scores:
            result["scores"] = scores
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    doc = _run_doc(row, counts)
    doc["results"] = results
    return doc
