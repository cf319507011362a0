"""Test runs and results in Postgres: create, update, read. Synchronous (run in a thread).

Every function takes a SQLAlchemy connection inside a transaction already scoped to the
project (``db.project_scope``), so row-level security guards each statement as well.
Result updates are conditional on the result still being open (``pending``/``running``):
whichever of the endpoint's answer, the deadline, a disconnect or a cancel comes first
wins, and the later ones change nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.storage import scores_by_result

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "CaseInput",
    "FinishedResult",
    "InvocationTarget",
    "PartialOutput",
    "cancel_run",
    "close_abandoned",
    "create_run",
    "fail_orphaned",
    "finish_result",
    "finish_run",
    "get_run",
    "heartbeat_runs",
    "invocation_target",
    "list_runs",
    "mark_running",
    "open_results",
    "record_partial",
]

#: A result in these states may still change.
OPEN_STATUSES = ("pending", "running")
#: Final states of a result.
CLOSED_STATUSES = (
    "passed",
    "failed",
    "error",
    "timeout",
    "cancelled",
    # Outcomes only a client-reported (pytest) run has.
    "skipped",
    "xfailed",
    "xpassed",
)


@dataclass(frozen=True, slots=True)
class CaseInput:
    """One test case of a run request."""

    case_id: str
    inputs: dict[str, Any]
    expected_output: Any = None
    has_expected: bool = False


@dataclass(frozen=True, slots=True)
class FinishedResult:
    """How an invocation ended, ready to store."""

    status: str
    output: Any = None
    error: str | None = None
    duration_ms: float | None = None
    trace_id: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InvocationTarget:
    """What an ``invoke`` for one result needs, read back from the database."""

    result_id: str
    run_id: str
    case_id: str | None
    arguments: dict[str, Any]
    function: str
    configuration_id: str | None
    timeout_s: float


def _no_nul(value: Any) -> Any:
    """Postgres text and JSONB cannot hold NUL characters: replace them."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if "\\u0000" in text or "\x00" in text:
        text = json.dumps(_no_nul(value), ensure_ascii=False, separators=(",", ":"))
    return text


def create_run(
    connection: Connection,
    project_id: int,
    *,
    name: str | None,
    function: str,
    environment: str | None,
    configuration_id: str | None,
    timeout_s: float,
    concurrency: int,
    strategy: str,
    cases: Sequence[CaseInput],
    metadata: Mapping[str, Any] | None = None,
) -> tuple[str, list[str]]:
    """Insert the run and one pending result per case (ids allocated here, before invoking).

    Returns ``(run_id, result ids in case order)``.
    """
    run_id = str(uuid.uuid4())
    run_metadata = {
        **dict(metadata or {}),
        "function": function,
        "environment": environment,
        "timeout_s": timeout_s,
        "concurrency": concurrency,
        "linking_strategy": strategy,
        "case_count": len(cases),
    }
    connection.execute(
        text(
            "INSERT INTO test_runs (project_id, id, name, status, configuration_id, metadata, "
            "started_at) VALUES (:p, :id, :name, 'running', :cfg, CAST(:meta AS jsonb), now())"
        ),
        {
            "p": project_id,
            "id": run_id,
            "name": name,
            "cfg": configuration_id,
            "meta": _json(run_metadata),
        },
    )
    result_ids = [str(uuid.uuid4()) for _ in cases]
    connection.execute(
        text(
            "INSERT INTO test_results (project_id, id, run_id, case_id, status, input, metadata) "
            "VALUES (:p, :id, :run, :case, 'pending', CAST(:input AS jsonb), CAST(:meta AS jsonb))"
        ),
        [
            {
                "p": project_id,
                "id": result_id,
                "run": run_id,
                "case": case.case_id,
                "input": _json(case.inputs),
                "meta": _json(
                    {"expected_output": case.expected_output, "has_expected": case.has_expected}
                ),
            }
            for result_id, case in zip(result_ids, cases, strict=True)
        ],
    )
    return run_id, result_ids


def mark_running(connection: Connection, result_id: str, connection_id: str) -> bool:
    """pending -> running (or a retry on another connection), recording the endpoint
    connection about to get the invoke; False when the result is closed already."""
    row = connection.execute(
        text(
            "UPDATE test_results SET status = 'running', started_at = now(), "
            "metadata = metadata || jsonb_build_object('connection_id', CAST(:conn AS text)) "
            "WHERE id = :id AND status IN ('pending', 'running') RETURNING 1"
        ),
        {"id": result_id, "conn": connection_id},
    ).first()
    return row is not None


@dataclass(frozen=True, slots=True)
class PartialOutput:
    """What a generator streamed so far for a running case."""

    output: Any
    chunk_count: int
    truncated: bool = False


def record_partial(connection: Connection, result_id: str, partial: PartialOutput) -> bool:
    """Store the streamed-so-far output of a running result; False when it is not running."""
    row = connection.execute(
        text(
            "UPDATE test_results SET metadata = metadata || CAST(:meta AS jsonb) "
            "WHERE id = :id AND status = 'running' RETURNING 1"
        ),
        {
            "id": result_id,
            "meta": _json(
                {
                    "partial_output": partial.output,
                    "chunk_count": partial.chunk_count,
                    "partial_truncated": partial.truncated,
                }
            ),
        },
    ).first()
    return row is not None


def invocation_target(
    connection: Connection, result_id: str, connection_id: str
) -> InvocationTarget | None:
    """The invoke data of a running result meant for ``connection_id``, else None."""
    row = connection.execute(
        text(
            "SELECT r.id, r.run_id, r.case_id, r.input, run.metadata, run.configuration_id "
            "FROM test_results r JOIN test_runs run ON run.id = r.run_id "
            "WHERE r.id = :id AND r.status = 'running' "
            "AND r.metadata->>'connection_id' = :conn"
        ),
        {"id": result_id, "conn": connection_id},
    ).first()
    if row is None:
        return None
    meta = row[4] or {}
    return InvocationTarget(
        result_id=row[0],
        run_id=row[1],
        case_id=row[2],
        arguments=row[3] if isinstance(row[3], dict) else {},
        function=str(meta.get("function")),
        configuration_id=row[5],
        timeout_s=float(meta.get("timeout_s") or 60.0),
    )


def finish_result(
    connection: Connection, result_id: str, result: FinishedResult
) -> tuple[str, str | None] | None:
    """Close an open result; returns ``(run_id, case_id)``, or None when it was closed already.

    ``passed``/``failed`` are decided here for a successful invocation: ``failed`` when the
    case has an expected output that differs from the output.
    """
    row = connection.execute(
        text(
            """
            UPDATE test_results SET
                status = CASE
                    WHEN CAST(:status AS text) <> 'success' THEN CAST(:status AS text)
                    WHEN (metadata->>'has_expected')::boolean
                         AND metadata->'expected_output' IS DISTINCT FROM CAST(:output AS jsonb)
                    THEN 'failed'
                    ELSE 'passed' END,
                output = CAST(:output AS jsonb),
                error = :error,
                duration_ms = :duration_ms,
                trace_id = :trace_id,
                finished_at = now(),
                started_at = coalesce(started_at, now()),
                metadata = (metadata - 'partial_output' - 'partial_truncated')
                           || CAST(:meta AS jsonb)
            WHERE id = :id AND status IN ('pending', 'running')
            RETURNING run_id, case_id
            """
        ),
        {
            "id": result_id,
            "status": result.status,
            "output": _json(result.output),
            "error": _no_nul(result.error),
            "duration_ms": result.duration_ms,
            "trace_id": result.trace_id,
            "meta": _json(dict(result.metadata or {})),
        },
    ).first()
    return (row[0], row[1]) if row is not None else None


#: Beyond a case's timeout, how long a running case may stay open before it is abandoned.
ABANDONED_AFTER_S = 60

_CLOSE_ABANDONED_RESULTS = text(
    f"""
    UPDATE test_results r SET status = 'timeout', finished_at = now(),
        error = 'Timeout: the receiver running this case went away before it finished'
    FROM test_runs run
    WHERE run.id = r.run_id AND r.status = 'running'
      AND NOT run.metadata ? 'reporter_seen'
      AND r.started_at < now() - make_interval(
          secs => coalesce((run.metadata->>'timeout_s')::float8, 60) + {ABANDONED_AFTER_S})
    """
)
_CLOSE_FINISHED_RUNS = text(
    f"""
    UPDATE test_runs run SET status = 'completed', finished_at = now()
    WHERE run.status = 'running' AND NOT run.metadata ? 'reporter_seen'
      AND run.started_at < now() - make_interval(secs => {ABANDONED_AFTER_S})
      AND NOT EXISTS (SELECT 1 FROM test_results r
                      WHERE r.run_id = run.id AND r.status IN ('pending', 'running'))
    """
)


#: A run whose executing receiver has not refreshed it for this long has no executor left.
EXECUTOR_FRESH_S = 30

_HEARTBEAT_RUNS = text(
    """
    UPDATE test_runs SET metadata = metadata || jsonb_build_object(
        'executor', CAST(:receiver AS text),
        'executor_seen', CASE WHEN :alive THEN extract(epoch FROM now()) ELSE 0 END)
    WHERE id = ANY(:ids) AND status = 'running'
    """
)
_ORPHANED = """
    run.status = 'running' AND run.metadata ? 'executor_seen'
    AND (run.metadata->>'executor_seen')::float8 < extract(epoch FROM now()) - :fresh
"""
ORPHANED_CASE_ERROR = (
    "ReceiverGone: the receiver running this test run stopped before invoking this case; "
    "start the run again to run it"
)
_FAIL_ORPHANED_CASES = text(
    f"""
    UPDATE test_results r SET status = 'error', finished_at = now(), error = :error,
        metadata = r.metadata || '{{"error_type": "ReceiverGone"}}'::jsonb
    FROM test_runs run
    WHERE run.id = r.run_id AND r.status = 'pending' AND {_ORPHANED}
    """
)
_CLOSE_ORPHANED_RUNS = text(
    f"""
    UPDATE test_runs run SET status = 'completed', finished_at = now()
    WHERE {_ORPHANED}
      AND NOT EXISTS (SELECT 1 FROM test_results r
                      WHERE r.run_id = run.id AND r.status IN ('pending', 'running'))
    """
)


def heartbeat_runs(
    connection: Connection, run_ids: Sequence[str], receiver_id: str, alive: bool = True
) -> None:
    """Record that ``receiver_id`` executes these running runs (now), or, with ``alive``
    False, that it stopped executing them (their not-started cases are then failed by the
    next sweep of any receiver)."""
    if run_ids:
        connection.execute(
            _HEARTBEAT_RUNS, {"ids": list(run_ids), "receiver": receiver_id, "alive": alive}
        )


def fail_orphaned(connection: Connection) -> int:
    """Fail the not-started cases of runs whose executing receiver is gone (it stopped, or
    has not refreshed the run for ``EXECUTOR_FRESH_S``), and finish such runs once no case
    is open. Returns the cases failed."""
    fresh = float(EXECUTOR_FRESH_S)  # read per call: tests shorten it
    failed = connection.execute(
        _FAIL_ORPHANED_CASES, {"error": ORPHANED_CASE_ERROR, "fresh": fresh}
    ).rowcount
    connection.execute(_CLOSE_ORPHANED_RUNS, {"fresh": fresh})
    return int(failed or 0)


def close_abandoned(connection: Connection) -> None:
    """Close cases running far past their deadline, runs with no open case left, and forget
    endpoint connections of receivers that went away.

    The receiver executing a run closes both itself; this is for when it went away.
    """
    connection.execute(_CLOSE_ABANDONED_RESULTS)
    fail_orphaned(connection)
    connection.execute(_CLOSE_FINISHED_RUNS)
    # Rows of connections whose receiver stopped refreshing them (it crashed).
    connection.execute(
        text("DELETE FROM endpoint_connections WHERE last_seen < now() - interval '10 minutes'")
    )


def open_results(connection: Connection, run_id: str) -> list[str]:
    """Ids of the run's results that are still pending or running."""
    rows = connection.execute(
        text(
            "SELECT id FROM test_results WHERE run_id = :run "
            "AND status IN ('pending', 'running') ORDER BY id"
        ),
        {"run": run_id},
    )
    return [row[0] for row in rows]


def finish_run(connection: Connection, run_id: str, status: str = "completed") -> bool:
    """Close a running run; False when it was closed already (e.g. cancelled)."""
    row = connection.execute(
        text(
            "UPDATE test_runs SET status = :status, finished_at = now() "
            "WHERE id = :id AND status IN ('pending', 'running') RETURNING 1"
        ),
        {"id": run_id, "status": status},
    ).first()
    return row is not None


def cancel_run(connection: Connection, run_id: str, reason: str) -> str | None:
    """Cancel a run: the run and its pending results are closed at once.

    Running results stay open until the endpoint confirms (or their deadline passes).
    Returns the run's status after the call, or None when there is no such run.
    """
    status = connection.execute(
        text("SELECT status FROM test_runs WHERE id = :id FOR UPDATE"), {"id": run_id}
    ).scalar_one_or_none()
    if status is None:
        return None
    if status in ("pending", "running"):
        connection.execute(
            text(
                "UPDATE test_runs SET status = 'cancelled', finished_at = now(), "
                "metadata = metadata || jsonb_build_object('cancel_reason', CAST(:r AS text)) "
                "WHERE id = :id"
            ),
            {"id": run_id, "r": reason},
        )
        connection.execute(
            text(
                "UPDATE test_results SET status = 'cancelled', error = :r, finished_at = now() "
                "WHERE run_id = :id AND status = 'pending'"
            ),
            {"id": run_id, "r": f"Cancelled: {reason}"},
        )
        return "cancelled"
    return str(status)


_RUN_COLUMNS = "id, name, status, configuration_id, metadata, created_at, started_at, finished_at"

_PROGRESS = """
SELECT run_id, status, count(*) FROM test_results
WHERE run_id = ANY(:ids) GROUP BY run_id, status
"""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


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
        "created_at": _iso(row[5]),
        "started_at": _iso(row[6]),
        "finished_at": _iso(row[7]),
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _trace_result(enrichment: Mapping[str, Any], plugin: str) -> Any:
    """One plugin's trace-level result from a stored enrichment (``data["trace"][plugin]``)."""
    trace = enrichment.get("trace")
    return trace.get(plugin) if isinstance(trace, Mapping) else None


def _cost(enrichment: Mapping[str, Any]) -> float | None:
    cost = _trace_result(enrichment, "cost")
    if not isinstance(cost, Mapping):
        return None
    return _number(cost.get("total_cost", cost.get("total_usd")))


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
    costs = [c for c in (_cost(e) for e in enrichments) if c is not None]
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
        "created_at": _iso(row[9]),
        "started_at": _iso(row[10]),
        "finished_at": _iso(row[11]),
        # What a generator streamed so far, while the case runs; the output replaces it.
        "partial_output": meta.get("partial_output") if row[2] == "running" else None,
        "partial_truncated": bool(meta.get("partial_truncated")) if row[2] == "running" else False,
        "chunk_count": meta.get("chunk_count"),
        "trace_ids": [t["trace_id"] for t in traces],
        "span_count": span_count,
        "reported_span_count": meta.get("span_count"),
        "input_tokens": sum(int(t.get("input_tokens") or 0) for t in traces),
        "output_tokens": sum(int(t.get("output_tokens") or 0) for t in traces),
        # None until an enrichment was stored for a linked trace.
        "cost_usd": sum(costs) if costs else None,
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
