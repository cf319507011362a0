"""Database side of evaluation: what one result is judged on, whether its spans have
settled, and storing the verdict. Every function takes a connection in a transaction
bound to the project.

A result waiting for its evaluators has status ``evaluating``; the verdict turns it into
``passed``/``failed``/``error`` and marks it ``evaluated`` in its metadata, so a re-run
(a late span) may replace that verdict but never a status the invocation itself decided
(an endpoint error, a timeout, a cancel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, text

from spanlink.receiver.evaluation._registry import config_from_dict
from spanlink.receiver.ingest import span_record_from_row
from spanlink.receiver.redaction import CompiledRules, RedactionBudget
from spanlink.receiver.storage import ScoreRow, replace_result_scores
from spanlink.receiver.storage._scores import redacted
from spanlink.tracer.evaluation import EQUALS, CaseEvaluation
from spanlink.tracer.model import Case, EvaluatorConfig, Trace
from spanlink.tracer.semconv import normalize

__all__ = [
    "EVALUATING",
    "ResultToJudge",
    "case_configs",
    "close_stale",
    "close_unevaluated",
    "evaluating_count",
    "linked_counts",
    "linked_state",
    "load_linked",
    "load_result",
    "store_verdict",
]

#: The status of a result whose output arrived and whose evaluators have not judged it yet.
EVALUATING = "evaluating"
_MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class ResultToJudge:
    """One result as its evaluators see it."""

    result_id: str
    run_id: str
    case: Case
    output: Any
    configs: Sequence[EvaluatorConfig]
    evaluated: bool


def case_configs(result_meta: Mapping[str, Any], run_meta: Mapping[str, Any]) -> list[Any]:
    """A case's evaluators: its own, else the run's defaults (``[]``: none given)."""
    own = result_meta.get("evaluators")
    if isinstance(own, list) and own:
        return own
    defaults = run_meta.get("evaluators")
    return defaults if isinstance(defaults, list) else []


def load_result(connection: Connection, project_id: int, result_id: str) -> ResultToJudge | None:
    """The result, its case and its evaluator configurations; None when it is not here."""
    row = connection.execute(
        text(
            "SELECT r.id, r.run_id, r.case_id, r.input, r.output, r.metadata, run.metadata "
            "FROM test_results r JOIN test_runs run ON run.id = r.run_id "
            "WHERE r.project_id = :p AND r.id = :id"
        ),
        {"p": project_id, "id": result_id},
    ).first()
    if row is None:
        return None
    meta, run_meta = dict(row[5] or {}), dict(row[6] or {})
    case = Case(
        id=row[2] or row[0],
        inputs=row[3] if isinstance(row[3], dict) else {},
        expected=meta.get("expected_output") if meta.get("has_expected") else None,
        metadata=meta.get("case_metadata") or {},
    )
    configs = [config_from_dict(raw) for raw in case_configs(meta, run_meta)]
    if not configs and meta.get("has_expected"):  # expected_output alone: the equals evaluator
        configs = [EvaluatorConfig(EQUALS)]
    return ResultToJudge(row[0], row[1], case, row[4], configs, bool(meta.get("evaluated")))


_LINKED_TRACES = """
    SELECT s.trace_id, count(*) AS span_count, max(t.span_count) AS trace_spans,
           max(e.span_count) AS enriched
    FROM spans s
    JOIN traces t ON t.project_id = s.project_id AND t.trace_id = s.trace_id
    LEFT JOIN trace_enrichments e ON e.project_id = s.project_id AND e.trace_id = s.trace_id
    WHERE s.project_id = :p AND s.test_result_id = :r
    GROUP BY s.trace_id
"""


def linked_state(connection: Connection, project_id: int, result_id: str) -> tuple[int, bool]:
    """How many spans are linked to the result, and whether every trace they belong to
    has been enriched with all its spans."""
    rows = connection.execute(text(_LINKED_TRACES), {"p": project_id, "r": result_id}).all()
    count = sum(int(row[1]) for row in rows)
    enriched = all(row[3] is not None and int(row[3]) >= int(row[2]) for row in rows)
    return count, enriched


def linked_counts(
    connection: Connection, project_id: int, result_ids: Sequence[str]
) -> dict[str, int]:
    """Spans linked to each of ``result_ids`` (results without any are left out)."""
    rows = connection.execute(
        text(
            "SELECT test_result_id, count(*) FROM spans WHERE project_id = :p "
            "AND test_result_id = ANY(:ids) GROUP BY test_result_id"
        ),
        {"p": project_id, "ids": list(result_ids)},
    )
    return {str(row[0]): int(row[1]) for row in rows}


_SPANS = text(
    """
    SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
           status_message, attributes, events, links, resource, scope_name, scope_version
    FROM spans WHERE project_id = :p AND test_result_id = :r
    ORDER BY start_ns, span_id
    """
)


def _enrichment(rows: Sequence[Any]) -> dict[str, Any] | None:
    """The stored enrichments of the result's traces as one: span results merged, the
    trace results of the largest trace, costs summed over every trace."""
    found = [(row[0], row[1], int(row[2] or 0)) for row in rows if isinstance(row[1], dict)]
    if not found:
        return None
    spans: dict[str, Any] = {}
    for _, data, _ in found:
        if isinstance(data.get("spans"), dict):
            spans.update(data["spans"])
    main = max(found, key=lambda item: item[2])[1]
    trace = dict(main.get("trace") or {})
    costs = [(data.get("trace") or {}).get("cost") for _, data, _ in found]
    if len(found) > 1 and all(isinstance(c, dict) for c in costs):
        totals = [c.get("total_cost") for c in costs if isinstance(c, dict)]
        if all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in totals):
            trace["cost"] = {
                **trace.get("cost", {}),
                "total_cost": sum(totals),
                "complete": all(isinstance(c, dict) and c.get("complete", True) for c in costs),
            }
    return {"spans": spans, "trace": trace}


def load_linked(
    connection: Connection, project_id: int, result_id: str
) -> tuple[Trace | None, dict[str, Any] | None]:
    """Every span linked to the result as one ``Trace`` (several traces joined, each root a
    root; attributes normalized), and their stored enrichment."""
    records = []
    for row in connection.execute(_SPANS, {"p": project_id, "r": result_id}).mappings():
        record = span_record_from_row(cast(Mapping[str, Any], row))
        record.attributes = normalize(record.attributes)  # what the evaluators read
        records.append(record)
    if not records:
        return None, None
    enrichments = connection.execute(
        text(
            "SELECT trace_id, data, span_count FROM trace_enrichments "
            "WHERE project_id = :p AND trace_id = ANY(:ids)"
        ),
        {"p": project_id, "ids": sorted({r.trace_id for r in records})},
    ).all()
    return Trace(trace_id=records[0].trace_id, spans=records), _enrichment(enrichments)


def _failure(evaluation: CaseEvaluation) -> str | None:
    """The error text of a case an evaluator could not judge."""
    broken = [s for s in evaluation.scores if s.error is not None]
    if evaluation.status != "error" or not broken:
        return None
    text_ = "; ".join(f"{s.evaluator or s.name}: {s.error}" for s in broken)
    text_ = f"EvaluatorError: {text_}"
    return text_ if len(text_) <= _MAX_ERROR else text_[: _MAX_ERROR - 3] + "..."


def store_verdict(
    connection: Connection,
    project_id: int,
    job: ResultToJudge,
    evaluation: CaseEvaluation,
    rules: CompiledRules,
    span_count: int,
) -> bool:
    """Store the scores and the status; False when the result is no longer judged by its
    evaluators (closed otherwise meanwhile)."""
    row = connection.execute(
        text(
            """
            UPDATE test_results SET status = :status,
                error = CASE WHEN CAST(:error AS text) IS NOT NULL THEN :error
                             WHEN metadata ? 'evaluated' THEN NULL ELSE error END,
                metadata = metadata || jsonb_build_object(
                    'evaluated', true,
                    'evaluated_span_count', CAST(:spans AS int),
                    'evaluations', coalesce((metadata->>'evaluations')::int, 0) + 1)
            WHERE project_id = :p AND id = :id
              AND (status = :evaluating OR metadata ? 'evaluated')
            RETURNING 1
            """
        ),
        {
            "p": project_id,
            "id": job.result_id,
            "status": evaluation.status,
            "error": _failure(evaluation),
            "evaluating": EVALUATING,
            "spans": span_count,
        },
    ).first()
    if row is None:
        return False
    budget = RedactionBudget()
    rows = [
        redacted(
            ScoreRow.from_score(score, "evaluator", result_id=job.result_id, run_id=job.run_id),
            rules,
            budget,
        )
        for score in evaluation.scores
    ]
    replace_result_scores(connection, project_id, job.result_id, "evaluator", rows)
    return True


def evaluating_count(connection: Connection, project_id: int, run_id: str) -> int:
    """Results of the run still waiting for their evaluators."""
    return int(
        connection.execute(
            text(
                "SELECT count(*) FROM test_results WHERE project_id = :p AND run_id = :run "
                "AND status = :evaluating"
            ),
            {"p": project_id, "run": run_id, "evaluating": EVALUATING},
        ).scalar_one()
    )


def close_stale(connection: Connection, older_than_s: float) -> int:
    """Close results left ``evaluating`` for longer than ``older_than_s`` (the receiver
    judging them went away): ``error``, so their runs can finish."""
    closed = connection.execute(
        text(
            "UPDATE test_results SET status = 'error', error = :reason, "
            'metadata = metadata || \'{"error_type": "EvaluationTimeout"}\'::jsonb '
            "WHERE status = :evaluating AND finished_at < now() - make_interval(secs => :age)"
        ),
        {
            "reason": "EvaluationTimeout: the receiver judging this case went away",
            "evaluating": EVALUATING,
            "age": older_than_s,
        },
    ).rowcount
    return int(closed or 0)


def close_unevaluated(connection: Connection, project_id: int, run_id: str, reason: str) -> int:
    """Give up on the run's results still waiting for evaluators: ``error`` with ``reason``."""
    closed = connection.execute(
        text(
            "UPDATE test_results SET status = 'error', error = :reason, "
            'metadata = metadata || \'{"error_type": "EvaluationTimeout"}\'::jsonb '
            "WHERE project_id = :p AND run_id = :run AND status = :evaluating"
        ),
        {"p": project_id, "run": run_id, "reason": reason, "evaluating": EVALUATING},
    ).rowcount
    return int(closed or 0)
