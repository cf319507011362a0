"""Database side of comparison: runs as ``RunRecord``s, traces as ``Trace``s, baselines.

Every function takes a connection in a transaction bound to one project (row-level
security backs up each ``project_id`` filter), so another project's runs and traces are
simply not found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.compare._diff import MAX_DIFF_SPANS
from spanlink.receiver.compare._errors import TraceTooLarge
from spanlink.receiver.compare._records import CaseResult, RunRecord
from spanlink.receiver.storage import cost_result, sum_costs, trace_cost
from spanlink.tracer.model import Score, SpanRecord, Trace

__all__ = [
    "DEFAULT_BASELINE_BRANCH",
    "MAX_INTERMEDIATE_RUNS",
    "RunRow",
    "auto_baseline",
    "load_diff_trace",
    "load_run",
    "load_run_row",
    "runs_between",
]

#: The branch ``baseline=auto`` looks on when the run's git metadata names no base branch.
DEFAULT_BASELINE_BRANCH = "main"
#: Most runs between baseline and run read for ``first_seen`` (the most recent ones).
MAX_INTERMEDIATE_RUNS = 20

# What identifies "the same dataset or suite" of two runs, first present wins.
_DATASET = (
    "coalesce(metadata->>'dataset_id', metadata->>'dataset', metadata->>'suite', "
    "metadata->>'function')"
)
_RUN = text(
    f"""
    SELECT id, name, status, metadata, created_at, {_DATASET} AS dataset
    FROM test_runs WHERE project_id = :p AND id = :id
    """
)
# Finished runs only: a run still going (or cancelled) is no baseline.
_CANDIDATES = f"""
    SELECT id FROM test_runs
    WHERE project_id = :p AND id <> :id AND finished_at IS NOT NULL AND status <> 'cancelled'
      AND {_DATASET} IS NOT DISTINCT FROM :dataset
      AND metadata->'git'->>'branch' = :branch
"""
_AUTO = text(_CANDIDATES + " AND created_at < :before ORDER BY created_at DESC, id DESC LIMIT 1")
_BETWEEN = text(
    _CANDIDATES
    + " AND id <> :baseline AND created_at > :after AND created_at < :before"
    + " ORDER BY created_at DESC, id DESC LIMIT :limit"
)
# Per result: tokens of its linked spans per trace, and each trace's stored enrichment
# rollups (cost and anomaly counts; null until enriched).
_RESULTS = text(
    """
    WITH linked AS (
        SELECT test_result_id AS result_id, trace_id,
               coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) AS tokens
        FROM spans WHERE project_id = :p AND test_run_id = :run AND test_result_id IS NOT NULL
        GROUP BY test_result_id, trace_id
    )
    SELECT r.id, r.case_id, r.status, r.duration_ms,
           coalesce((SELECT jsonb_agg(jsonb_build_object('name', s.name, 'value', s.value,
                                                         'passed', s.passed, 'error', s.error)
                                      ORDER BY s.seq)
                     FROM scores s WHERE s.project_id = :p AND s.result_id = r.id),
                    r.metadata->'scores') AS scores,
           coalesce(jsonb_agg(jsonb_build_object(
               'trace_id', l.trace_id, 'tokens', l.tokens,
               'enriched', e.trace_id IS NOT NULL, 'cost', e.data->'trace'->'cost',
               'anomalies', e.data->'trace'->'anomaly'->'counts') ORDER BY l.trace_id)
             FILTER (WHERE l.trace_id IS NOT NULL), '[]'::jsonb) AS traces,
           min(r.trace_id) AS own_trace
    FROM test_results r
    LEFT JOIN linked l ON l.result_id = r.id
    LEFT JOIN trace_enrichments e ON e.project_id = :p AND e.trace_id = l.trace_id
    WHERE r.project_id = :p AND r.run_id = :run
    GROUP BY r.id
    ORDER BY min(r.created_at), r.id
    """
)
_SPAN_COUNT = text("SELECT count(*) FROM spans WHERE project_id = :p AND trace_id = :trace")
_SPANS_SQL = (
    "SELECT span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, attributes"
    " FROM spans WHERE project_id = %s AND trace_id = %s"
)
_ENRICHMENT = text(
    "SELECT data->'spans' FROM trace_enrichments WHERE project_id = :p AND trace_id = :trace"
)


class RunRow:
    """A run's own row: what finding its baseline needs."""

    __slots__ = ("branch", "commit", "created_at", "dataset", "id", "metadata", "name", "status")

    def __init__(self, row: Any) -> None:
        self.id: str = row.id
        self.name: str | None = row.name
        self.status: str | None = row.status
        self.metadata: dict[str, Any] = dict(row.metadata or {})
        self.created_at: Any = row.created_at
        self.dataset: str | None = row.dataset
        git = self.metadata.get("git")
        git = git if isinstance(git, Mapping) else {}
        self.branch: str | None = _text(git.get("branch"))
        self.commit: str | None = _text(git.get("commit"))

    @property
    def base_branch(self) -> str:
        """The branch ``baseline=auto`` looks on: the recorded merge-base branch, or main."""
        git = self.metadata.get("git")
        recorded = git.get("base_branch") if isinstance(git, Mapping) else None
        return _text(recorded) or DEFAULT_BASELINE_BRANCH


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _scores(raw: Any) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, Mapping) or not _text(item.get("name")):
            continue
        passed = item.get("passed")
        scores[item["name"]] = Score(
            name=item["name"],
            value=_number(item.get("value")),
            passed=passed if isinstance(passed, bool) else None,
            error=_text(item.get("error")),
        )
    return scores


def _case(row: Any) -> CaseResult:
    traces = [t for t in row.traces or () if isinstance(t, Mapping)]
    costs = [
        cost_result(trace.get("cost")) if trace.get("enriched") else trace_cost(None)
        for trace in traces
    ]
    anomalies = {
        str(rule)
        for trace in traces
        if isinstance(trace.get("anomalies"), Mapping)
        for rule in trace["anomalies"]
    }
    trace_ids = tuple(str(t["trace_id"]) for t in traces)
    if not trace_ids and row.own_trace:
        trace_ids = (row.own_trace,)
    return CaseResult(
        case_id=row.case_id or row.id,
        status=row.status,
        scores=_scores(row.scores),
        latency_ms=_number(row.duration_ms),
        tokens=sum(int(t.get("tokens") or 0) for t in traces) if traces else None,
        # Unknown unless every linked trace is enriched and every model call priced.
        cost_usd=sum_costs(costs),
        anomalies=frozenset(anomalies),
        trace_ids=trace_ids,
        result_id=row.id,
    )


def load_run_row(connection: Connection, project_id: int, run_id: str) -> RunRow | None:
    """The run's row, or None when the project has no such run."""
    row = connection.execute(_RUN, {"p": project_id, "id": run_id}).first()
    return RunRow(row) if row is not None else None


def load_run(connection: Connection, project_id: int, run: RunRow) -> RunRecord:
    """The run with every case result: scores, latency, tokens, cost, anomalies, traces."""
    rows = connection.execute(_RESULTS, {"p": project_id, "run": run.id})
    return RunRecord(
        id=run.id,
        cases=[_case(row) for row in rows],
        name=run.name,
        status=run.status,
        dataset=run.dataset,
        commit=run.commit,
        branch=run.branch,
        created_at=run.created_at.isoformat() if run.created_at is not None else None,
    )


def auto_baseline(
    connection: Connection, project_id: int, run: RunRow, branch: str | None = None
) -> RunRow | None:
    """The latest finished run of the same dataset or suite on ``branch`` before ``run``.

    ``branch`` defaults to ``run.base_branch``.
    """
    found = connection.execute(
        _AUTO,
        {
            "p": project_id,
            "id": run.id,
            "dataset": run.dataset,
            "branch": branch or run.base_branch,
            "before": run.created_at,
        },
    ).first()
    return load_run_row(connection, project_id, found.id) if found is not None else None


def runs_between(
    connection: Connection, project_id: int, baseline: RunRow, run: RunRow
) -> list[RunRecord] | None:
    """Finished runs on ``run``'s branch after ``baseline`` and before ``run``, oldest first.

    None when the run has no branch recorded (``first_seen`` is then not computed). At most
    ``MAX_INTERMEDIATE_RUNS``, the most recent.
    """
    if run.branch is None or baseline.created_at is None or run.created_at is None:
        return None
    rows = connection.execute(
        _BETWEEN,
        {
            "p": project_id,
            "id": run.id,
            "baseline": baseline.id,
            "dataset": run.dataset,
            "branch": run.branch,
            "after": baseline.created_at,
            "before": run.created_at,
            "limit": MAX_INTERMEDIATE_RUNS,
        },
    ).all()
    found = [load_run_row(connection, project_id, row.id) for row in reversed(rows)]
    return [load_run(connection, project_id, row) for row in found if row is not None]


def load_diff_trace(
    connection: Connection, project_id: int, trace_id: str, side: str
) -> tuple[Trace, dict[str, Any]] | None:
    """A trace for ``diff_traces`` and its per-span enrichment; None when not found.

    Raises ``TraceTooLarge`` (before reading the spans) above ``MAX_DIFF_SPANS``.
    """
    params = {"p": project_id, "trace": trace_id}
    count = int(connection.execute(_SPAN_COUNT, params).scalar_one())
    if count == 0:
        return None
    if count > MAX_DIFF_SPANS:
        raise TraceTooLarge(side, count, MAX_DIFF_SPANS)
    # The driver's cursor on the same connection (so in the same project-scoped transaction):
    # thousands of rows as plain tuples, without a Row object per row, take about a third
    # less time to read, and reading is most of a diff's time in the API.
    driver = connection.connection.driver_connection
    assert driver is not None  # an open Connection always holds its driver connection
    with driver.cursor() as cursor:
        cursor.execute(_SPANS_SQL, (project_id, trace_id))
        rows = cursor.fetchall()
    spans = [
        SpanRecord(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            name=name,
            kind=kind,
            start_time_unix_nano=int(start_ns),
            end_time_unix_nano=int(end_ns),
            status_code=status_code,
            attributes=attributes if isinstance(attributes, dict) else {},
        )
        for span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, attributes in rows
    ]
    enrichment = connection.execute(_ENRICHMENT, params).scalar_one_or_none()
    return Trace(trace_id, spans), dict(enrichment) if isinstance(enrichment, Mapping) else {}
