"""Client-reported test runs (``source: "pytest"``): the client runs the cases and reports them.

They share the model of receiver-driven runs — a ``test_runs`` row, one ``test_results`` row
per case, spans linked by result id — but the client allocates the ids: the run's when it
creates it (idempotently, so every xdist worker may), each result's before its test starts.
Results are upserted by id: reported ``running`` at the start and final at the end; a final
result is never turned back into a running one. Every report refreshes the run's
``reporter_seen``; a run whose reporter has been silent for ``REPORTER_STALE_S`` is finished
by the sweep, its open cases marked ``error``. A result's scores are stored in the ``scores``
table (source ``client``), replaced by each report of the result that carries it.

Every function takes a connection in a transaction scoped to the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.storage import (
    RESULT_SCORE_FIELDS,
    ScoreRow,
    bound_indexed,
    replace_result_scores,
)
from spanlink.receiver.storage._json import json_text, no_nul

__all__ = [
    "ID_CONFLICT_STATES",
    "REPORTED_STATUSES",
    "REPORTER_STALE_S",
    "VANISHED_ERROR",
    "IdTaken",
    "ReportedResult",
    "create_reported_run",
    "finish_reported_run",
    "finish_vanished",
    "is_reported",
    "upsert_results",
]

#: Statuses a client may report for a result.
REPORTED_STATUSES = ("running", "passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: A client-reported run whose reporter sent nothing for this long is finished by the sweep.
REPORTER_STALE_S = 600.0
VANISHED_ERROR = (
    "ReporterVanished: the test session reporting this run stopped (killed or crashed) "
    "before this test finished"
)
UNFINISHED_ERROR = "Unfinished: the test session ended before this test finished"


#: SQLSTATEs of a client-allocated id that another project owns (row-level security hides
#: the row, so the upsert is refused instead of updating it).
ID_CONFLICT_STATES = ("42501", "23505")


class IdTaken(Exception):
    """The client-allocated id is already used by another run or project."""


@dataclass(frozen=True, slots=True)
class ReportedResult:
    """One result as the client reports it."""

    id: str
    case_id: str
    status: str
    inputs: Mapping[str, Any]
    output: Any = None
    error: str | None = None
    duration_ms: float | None = None
    trace_id: str | None = None
    scores: Sequence[Mapping[str, Any]] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: Mapping[str, Any] | None = None


_SEEN = "jsonb_build_object('reporter_seen', extract(epoch FROM now()))"


def create_reported_run(
    connection: Connection,
    project_id: int,
    *,
    run_id: str,
    name: str | None,
    source: str,
    environment: str | None,
    configuration_id: str | None,
    metadata: Mapping[str, Any],
) -> bool:
    """Create the run (status ``running``) unless it exists; True when created now.

    Raises ``IdTaken`` when the id belongs to a receiver-driven run or another project.
    """
    run_metadata = {
        **dict(metadata),
        "source": source,
        "environment": environment,
    }
    created = connection.execute(
        text(
            "INSERT INTO test_runs (project_id, id, name, status, configuration_id, metadata, "
            "started_at) VALUES (:p, :id, :name, 'running', :cfg, "
            f"CAST(:meta AS jsonb) || {_SEEN}, now()) "
            "ON CONFLICT (id) DO NOTHING RETURNING 1"
        ),
        {
            "p": project_id,
            "id": run_id,
            "name": no_nul(name),
            "cfg": no_nul(configuration_id),
            "meta": json_text(run_metadata),
        },
    ).first()
    if created is not None:
        return True
    if not is_reported(connection, project_id, run_id):
        raise IdTaken(f"test run id {run_id} is already used")
    return False


def is_reported(connection: Connection, project_id: int, run_id: str) -> bool:
    """True when ``run_id`` is a client-reported run of this project."""
    row = connection.execute(
        text(
            "SELECT 1 FROM test_runs WHERE project_id = :p AND id = :id "
            "AND metadata ? 'reporter_seen'"
        ),
        {"p": project_id, "id": run_id},
    ).first()
    return row is not None


_UPSERT = text(
    """
    INSERT INTO test_results AS r (project_id, id, run_id, case_id, status, input, output,
        error, trace_id, duration_ms, metadata, started_at, finished_at)
    VALUES (:p, :id, :run, :case, CAST(:status AS text), CAST(:input AS jsonb),
        CAST(:output AS jsonb), :error, :trace_id, :duration_ms, CAST(:meta AS jsonb),
        coalesce(CAST(:started AS timestamptz), now()),
        CASE WHEN CAST(:status AS text) = 'running' THEN NULL
             ELSE coalesce(CAST(:finished AS timestamptz), now()) END)
    ON CONFLICT (id) DO UPDATE SET
        case_id = excluded.case_id, status = excluded.status, input = excluded.input,
        output = excluded.output, error = excluded.error,
        trace_id = coalesce(excluded.trace_id, r.trace_id),
        duration_ms = excluded.duration_ms, metadata = r.metadata || excluded.metadata,
        started_at = coalesce(r.started_at, excluded.started_at),
        finished_at = excluded.finished_at
    WHERE r.project_id = excluded.project_id AND r.run_id = excluded.run_id
      AND NOT (excluded.status = 'running' AND r.status <> 'running')
    RETURNING r.id
    """
)


def upsert_results(
    connection: Connection, project_id: int, run_id: str, results: Sequence[ReportedResult]
) -> list[ReportedResult]:
    """Store the results (a final one is never reopened) and refresh the run's heartbeat.

    Returns the final (not ``running``) results that were written, for linking. Raises
    ``IdTaken`` when a result id belongs to another run.
    """
    connection.execute(
        text(f"UPDATE test_runs SET metadata = metadata || {_SEEN} WHERE id = :id"),
        {"id": run_id},
    )
    written: list[ReportedResult] = []
    for result in results:
        meta = dict(result.metadata or {})
        row = connection.execute(
            _UPSERT,
            {
                "p": project_id,
                "id": result.id,
                "run": run_id,
                "case": bound_indexed(no_nul(result.case_id)),
                "status": result.status,
                "input": json_text(dict(result.inputs)),
                "output": json_text(result.output),
                "error": no_nul(result.error),
                "trace_id": result.trace_id,
                "duration_ms": result.duration_ms,
                "meta": json_text(meta),
                "started": result.started_at,
                "finished": result.finished_at,
            },
        ).first()
        if row is None:
            owner = connection.execute(
                text("SELECT run_id FROM test_results WHERE id = :id"), {"id": result.id}
            ).scalar_one_or_none()
            if owner != run_id:
                raise IdTaken(f"result id {result.id} belongs to another test run")
            continue  # a late "running" for a result that is final already
        replace_result_scores(
            connection,
            project_id,
            result.id,
            "client",
            [_score_row(score, result.id, run_id) for score in result.scores],
        )
        if result.status != "running":
            written.append(result)
    return written


#: What a reported score may carry (``source`` is always ``client``).
_SCORE_KEYS = tuple(key for key in RESULT_SCORE_FIELDS if key != "source")


def _score_row(score: Mapping[str, Any], result_id: str, run_id: str) -> ScoreRow:
    fields: dict[str, Any] = {k: score[k] for k in _SCORE_KEYS if score.get(k) is not None}
    fields.setdefault("name", "score")
    return ScoreRow(**fields, source="client", result_id=result_id, run_id=run_id)


def _close(connection: Connection, where: str, error: str, params: Mapping[str, Any]) -> int:
    closed = connection.execute(
        text(
            "UPDATE test_results r SET status = 'error', finished_at = now(), error = :error, "
            "metadata = r.metadata || jsonb_build_object('error_type', "
            "split_part(CAST(:error AS text), ':', 1)) "
            f"FROM test_runs run WHERE run.id = r.run_id AND r.status = 'running' AND {where}"
        ),
        {"error": error, **params},
    ).rowcount
    return int(closed or 0)


def finish_reported_run(connection: Connection, run_id: str) -> bool:
    """Finish the run: its still-running results become ``error``; False when it was
    finished already."""
    _close(connection, "run.id = :id", UNFINISHED_ERROR, {"id": run_id})
    row = connection.execute(
        text(
            "UPDATE test_runs SET status = 'completed', finished_at = now() "
            "WHERE id = :id AND status = 'running' RETURNING 1"
        ),
        {"id": run_id},
    ).first()
    return row is not None


_VANISHED = """
    run.status = 'running' AND run.metadata ? 'reporter_seen'
    AND (run.metadata->>'reporter_seen')::float8 < extract(epoch FROM now()) - :stale
"""


def finish_vanished(connection: Connection) -> int:
    """Finish client-reported runs whose reporter went silent; returns the cases closed."""
    stale = float(REPORTER_STALE_S)  # read per call: tests shorten it
    closed = _close(connection, _VANISHED, VANISHED_ERROR, {"stale": stale})
    connection.execute(
        text(
            "UPDATE test_runs run SET status = 'completed', finished_at = now(), "
            'metadata = run.metadata || \'{"finish_reason": "reporter vanished"}\'::jsonb '
            f"WHERE {_VANISHED}"
        ),
        {"stale": stale},
    )
    return closed
