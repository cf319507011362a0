"""Test runs and results in Postgres: create a run, move a result through its states.

Synchronous (run in a thread). Every function takes a SQLAlchemy connection inside a
transaction already scoped to the project (``storage.project_transaction``), so row-level
security guards each statement as well. Result updates are conditional on the result still
being open (``pending``/``running``): whichever of the endpoint's answer, the deadline, a
disconnect or a cancel comes first wins, and the later ones change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.storage import bound_indexed
from spanlink.receiver.storage._json import json_text, no_nul

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "CaseInput",
    "FinishedResult",
    "InvocationTarget",
    "PartialOutput",
    "cancel_run",
    "create_run",
    "finish_result",
    "finish_run",
    "invocation_target",
    "mark_running",
    "open_results",
    "record_partial",
]

#: A result in these states may still change (``evaluating``: its output arrived, its
#: evaluators have not judged it yet).
OPEN_STATUSES = ("pending", "running", "evaluating")
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
    #: The case's evaluator configurations (JSON form); none: the run's defaults.
    evaluators: Sequence[Mapping[str, Any]] = ()
    metadata: Mapping[str, Any] | None = None


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
            "meta": json_text(run_metadata),
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
                "case": bound_indexed(case.case_id),
                "input": json_text(case.inputs),
                "meta": json_text(
                    {
                        "expected_output": case.expected_output,
                        "has_expected": case.has_expected,
                        "evaluators": [dict(e) for e in case.evaluators],
                        "case_metadata": dict(case.metadata or {}),
                    }
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
            "meta": json_text(
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
) -> tuple[str, str | None, str] | None:
    """Close an open result; returns ``(run_id, case_id, status)``, or None when it was
    closed already.

    A successful invocation of a case with evaluators (its own or the run's) or an expected
    output becomes ``evaluating`` (the evaluation service decides ``passed``/``failed``);
    one with neither is ``passed``.
    """
    row = connection.execute(
        text(
            """
            UPDATE test_results SET
                status = CASE
                    WHEN CAST(:status AS text) <> 'success' THEN CAST(:status AS text)
                    WHEN (metadata->>'has_expected')::boolean
                         OR jsonb_array_length(coalesce(metadata->'evaluators', '[]')) > 0
                         OR EXISTS (SELECT 1 FROM test_runs run
                                    WHERE run.id = test_results.run_id
                                    AND jsonb_array_length(
                                        coalesce(run.metadata->'evaluators', '[]')) > 0)
                    THEN 'evaluating'
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
            RETURNING run_id, case_id, status
            """
        ),
        {
            "id": result_id,
            "status": result.status,
            "output": json_text(result.output),
            "error": no_nul(result.error),
            "duration_ms": result.duration_ms,
            "trace_id": result.trace_id,
            "meta": json_text(dict(result.metadata or {})),
        },
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


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
