"""Scores in Postgres: bounded before they are written, read back per result, trace or span.

Every score comes through :class:`ScoreRow` and :func:`bounded`: a value that is not a
finite number is dropped and the score carries an error saying so, texts are cut to the
table's limits, NUL characters replaced, metadata bounded in size. What a caller posted
(``POST /api/v1/scores``) is checked more strictly by the API first; this is the floor for
every path (span events, client-reported results, evaluators).

Every function takes a connection in a transaction bound to the project, so row-level
security backs up each ``project_id`` filter, and the ``(project_id, id)`` foreign keys to
results and runs keep a score inside its project.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, text

from spanlink.receiver.redaction import CompiledRules, RedactionBudget, redact_text, redact_value
from spanlink.receiver.storage._json import iso
from spanlink.tracer.model import Score

__all__ = [
    "MAX_SCORE_LABEL",
    "MAX_SCORE_METADATA_BYTES",
    "MAX_SCORE_NAME",
    "MAX_SCORE_TEXT",
    "RESULT_SCORE_FIELDS",
    "SCORE_SOURCES",
    "ScoreFilters",
    "ScoreRow",
    "bounded",
    "insert_scores",
    "list_scores",
    "redacted",
    "replace_result_scores",
    "result_score",
    "scores_by_result",
]

#: Longest score name, label, explanation/error text (characters) and metadata (JSON bytes).
MAX_SCORE_NAME = 200
MAX_SCORE_LABEL = 1000
MAX_SCORE_TEXT = 16_384
MAX_SCORE_METADATA_BYTES = 16_384
_MAX_EVALUATOR = 200
_MAX_VERSION = 100
#: Where a score came from.
SCORE_SOURCES = ("api", "ingest", "client", "evaluator")
_CUT = " [truncated]"


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One score as stored: what it judges (trace/span, result/run) and the judgement."""

    name: str
    source: str
    value: float | None = None
    label: str | None = None
    passed: bool | None = None
    explanation: str | None = None
    evaluator: str | None = None
    evaluator_version: str | None = None
    error: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    result_id: str | None = None
    run_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Deterministic for scores that may be written twice (a re-sent span's events).
    id: str | None = None

    @classmethod
    def from_score(cls, score: Score, source: str, **target: Any) -> ScoreRow:
        """A model ``Score`` for storage; ``target`` names trace/span/result/run ids."""
        verdict = {name: getattr(score, name) for name in (*_JUDGEMENT, "error", "span_id")}
        return cls(**verdict, source=source, metadata=dict(score.metadata), **target)


def _cut(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text_value = value if isinstance(value, str) else str(value)
    if "\x00" in text_value:
        text_value = text_value.replace("\x00", "\ufffd")
    if len(text_value) > limit:
        text_value = text_value[: limit - len(_CUT)] + _CUT
    return text_value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {str(_json_safe(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int)):
        return value
    return str(value)


def _metadata_json(metadata: Mapping[str, Any]) -> str:
    encoded = json.dumps(_json_safe(metadata), ensure_ascii=False, separators=(",", ":"))
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_SCORE_METADATA_BYTES:
        return json.dumps({"truncated": True, "bytes": len(encoded)})
    return encoded


def bounded(row: ScoreRow) -> ScoreRow:
    """``row`` within the table's limits (see the module docs); never raises."""
    value: float | None = None
    error = row.error
    raw = row.value
    if raw is not None:
        number = raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
        if number is not None and math.isfinite(number):
            value = float(number)
        else:
            problem = f"score value {raw!r} is not a finite number and was dropped"
            error = f"{error}; {problem}" if error else problem
    passed = row.passed if isinstance(row.passed, bool) else None
    return replace(
        row,
        name=_cut(row.name, MAX_SCORE_NAME) or "unnamed",
        value=value,
        passed=passed,
        label=_cut(row.label, MAX_SCORE_LABEL),
        explanation=_cut(row.explanation, MAX_SCORE_TEXT),
        evaluator=_cut(row.evaluator, _MAX_EVALUATOR),
        evaluator_version=_cut(row.evaluator_version, _MAX_VERSION),
        error=_cut(error, MAX_SCORE_TEXT),
        metadata=dict(row.metadata) if isinstance(row.metadata, Mapping) else {},
    )


def redacted(row: ScoreRow, rules: CompiledRules, budget: RedactionBudget) -> ScoreRow:
    """``row`` with the project's redaction rules applied to its texts and metadata."""
    if rules.is_empty:
        return row

    def one(value: str | None) -> str | None:
        return redact_text(value, rules, budget) if value else value

    return replace(
        row,
        label=one(row.label),
        explanation=one(row.explanation),
        error=one(row.error),
        metadata=redact_value(dict(row.metadata), rules, budget=budget),
    )


_INSERT = text(
    """
    INSERT INTO scores (project_id, id, trace_id, span_id, result_id, run_id, name, value,
        label, passed, explanation, evaluator, evaluator_version, error, source, metadata)
    VALUES (:p, coalesce(:id, gen_random_uuid()::text), :trace_id, :span_id, :result_id,
        :run_id, :name, :value, :label, :passed, :explanation, :evaluator,
        :evaluator_version, :error, :source, CAST(:metadata AS jsonb))
    ON CONFLICT (project_id, id) DO NOTHING
    """
)


#: The judgement of a score: its name, what it says and who said it.
_JUDGEMENT = ("name", "value", "label", "passed", "explanation", "evaluator", "evaluator_version")
#: The stored fields of a score besides its project, id and ``metadata``.
_FIELDS = ("trace_id", "span_id", "result_id", "run_id", *_JUDGEMENT, "error", "source")
#: What ``results[].scores`` of a test run holds of each score.
RESULT_SCORE_FIELDS = (*_JUDGEMENT, "span_id", "error", "source", "metadata")


def _params(project_id: int, row: ScoreRow) -> dict[str, Any]:
    row = bounded(row)
    params = {name: getattr(row, name) for name in _FIELDS}
    return {**params, "p": project_id, "id": row.id, "metadata": _metadata_json(row.metadata)}


def insert_scores(connection: Connection, project_id: int, rows: Iterable[ScoreRow]) -> int:
    """Store ``rows`` (bounded first); a row whose ``id`` exists already is skipped."""
    params = [_params(project_id, row) for row in rows]
    if not params:
        return 0
    connection.execute(_INSERT, params)
    return len(params)


def replace_result_scores(
    connection: Connection,
    project_id: int,
    result_id: str,
    source: str,
    rows: Sequence[ScoreRow],
) -> None:
    """Make ``rows`` the result's scores from ``source`` (earlier ones of it are removed)."""
    connection.execute(
        text("DELETE FROM scores WHERE project_id = :p AND result_id = :r AND source = :s"),
        {"p": project_id, "r": result_id, "s": source},
    )
    insert_scores(connection, project_id, rows)


_COLUMNS = "id, " + ", ".join(_FIELDS) + ", metadata, created_at"


def _doc(row: Any) -> dict[str, Any]:
    doc = dict(row._mapping)
    doc["metadata"] = doc["metadata"] or {}
    created = doc["created_at"]
    doc["created_at"] = iso(created)
    return doc


def result_score(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored score as ``results[].scores`` of a test run shows it."""
    return {key: doc.get(key) for key in RESULT_SCORE_FIELDS}


@dataclass(frozen=True, slots=True)
class ScoreFilters:
    """Filters of ``GET /api/v1/scores``; ``None`` means "any"."""

    id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    result_id: str | None = None
    run_id: str | None = None
    name: str | None = None
    source: str | None = None


def list_scores(
    connection: Connection, project_id: int, filters: ScoreFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's scores matching ``filters`` (newest first) and the total."""
    where = ["project_id = :p"]
    params: dict[str, Any] = {"p": project_id, "limit": limit, "offset": offset}
    for column in ("id", "trace_id", "span_id", "result_id", "run_id", "name", "source"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    condition = " AND ".join(where)
    total = connection.execute(
        text(f"SELECT count(*) FROM scores WHERE {condition}"), params
    ).scalar_one()
    rows = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM scores WHERE {condition} "
            "ORDER BY seq DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return [_doc(row) for row in rows], int(total)


def scores_by_result(
    connection: Connection, project_id: int, run_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every score of the run's results, by result id, in the order they were stored."""
    rows = connection.execute(
        text(
            f"SELECT {_COLUMNS} FROM scores WHERE project_id = :p AND run_id = :run "
            "AND result_id IS NOT NULL ORDER BY seq"
        ),
        {"p": project_id, "run": run_id},
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row.result_id, []).append(result_score(_doc(row)))
    return found
