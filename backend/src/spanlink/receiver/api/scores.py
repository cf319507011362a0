"""``POST /api/v1/scores`` (a score from outside: human feedback, an external evaluator) and
``GET /api/v1/scores`` (scores of the project, filtered).

A posted score points at a trace (``trace_id``), one of its spans (``trace_id`` and
``span_id``), a test result (``result_id``), or a result and a trace. What it points at must
exist in the key's project (404 otherwise): another project's trace or result is simply not
found. NaN and infinite values, over-long texts and over-large metadata are refused (422);
the project's redaction rules apply to labels, explanations, errors and metadata before
the score is stored.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, text

from spanlink.receiver.api._http import ID_PATTERN, Offset, check_no_nul, or_404, page_in_project
from spanlink.receiver.api.auth import Project, in_project
from spanlink.receiver.redaction import RedactionBudget, RulesCache
from spanlink.receiver.storage import (
    ScoreFilters,
    ScoreRow,
    insert_scores,
    list_scores,
)
from spanlink.receiver.storage._scores import (
    MAX_SCORE_LABEL,
    MAX_SCORE_METADATA_BYTES,
    MAX_SCORE_NAME,
    MAX_SCORE_TEXT,
    redacted,
)

__all__ = ["ScoreCreate", "router"]

router = APIRouter(prefix="/api/v1", tags=["scores"])

_TRACE = r"^[0-9a-fA-F]{32}$"
_SPAN = r"^[0-9a-fA-F]{16}$"


class ScoreCreate(BaseModel):
    """``POST /api/v1/scores``: one score for a trace, a span or a test result."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=MAX_SCORE_NAME)
    value: float | None = Field(default=None, description="a finite number")
    label: str | None = Field(default=None, max_length=MAX_SCORE_LABEL)
    passed: bool | None = None
    explanation: str | None = Field(default=None, max_length=MAX_SCORE_TEXT)
    evaluator: str | None = Field(default=None, max_length=200, description='e.g. "human"')
    evaluator_version: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, max_length=MAX_SCORE_TEXT)
    trace_id: str | None = Field(default=None, pattern=_TRACE)
    span_id: str | None = Field(default=None, pattern=_SPAN, description="needs trace_id")
    result_id: str | None = Field(default=None, pattern=ID_PATTERN)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name", "label", "explanation", "evaluator", "evaluator_version", "error")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
        if size > MAX_SCORE_METADATA_BYTES:
            raise ValueError(
                f"metadata is {size} bytes of JSON; at most {MAX_SCORE_METADATA_BYTES} allowed"
            )
        return value

    @model_validator(mode="after")
    def _has_target(self) -> ScoreCreate:
        if self.trace_id is None and self.result_id is None:
            raise ValueError("give trace_id (optionally with span_id) or result_id, or both")
        if self.span_id is not None and self.trace_id is None:
            raise ValueError("span_id needs the trace_id of its trace")
        return self


def _target_run(db: Connection, project: int, body: ScoreCreate) -> str | None:
    """The run of the score's result; 404 when the trace, span or result is not here."""
    if body.trace_id is not None:
        if body.span_id is not None:
            found = db.execute(
                text(
                    "SELECT 1 FROM spans WHERE project_id = :p AND trace_id = :t AND span_id = :s"
                ),
                {"p": project, "t": body.trace_id.lower(), "s": body.span_id.lower()},
            ).first()
            what = f"span {body.span_id} of trace {body.trace_id}"
        else:
            found = db.execute(
                text("SELECT 1 FROM traces WHERE project_id = :p AND trace_id = :t"),
                {"p": project, "t": body.trace_id.lower()},
            ).first()
            what = f"trace {body.trace_id}"
        or_404(found, what)
    if body.result_id is None:
        return None
    run_id = db.execute(
        text("SELECT run_id FROM test_results WHERE project_id = :p AND id = :id"),
        {"p": project, "id": body.result_id.lower()},
    ).scalar_one_or_none()
    return str(or_404(run_id, f"test result {body.result_id}"))


@router.post(
    "/scores",
    status_code=201,
    responses={404: {"description": "the trace, span or result is not in this project"}},
)
async def create_score(body: ScoreCreate, request: Request, project: Project) -> JSONResponse:
    """Attach a score to a trace, a span or a test result; returns it as stored."""
    redaction: RulesCache = request.app.state.redaction

    def write(db: Connection) -> dict[str, Any]:
        run_id = _target_run(db, project, body)
        # ``ScoreCreate`` has the fields of ``ScoreRow`` but its source and run; ids lowered.
        fields = body.model_dump()
        for key in ("trace_id", "span_id", "result_id"):
            fields[key] = fields[key].lower() if fields[key] else None
        row = ScoreRow(**fields, source="api", run_id=run_id)
        row = redacted(row, redaction.get(project), RedactionBudget())
        score_id = db.execute(text("SELECT gen_random_uuid()::text")).scalar_one()
        insert_scores(db, project, [replace(row, id=score_id)])
        items, _ = list_scores(db, project, ScoreFilters(id=score_id), 1, 0)
        return items[0]

    return JSONResponse(await in_project(request, project, write), status_code=201)


@router.get("/scores")
async def get_scores(
    request: Request,
    project: Project,
    trace_id: Annotated[str | None, Query(pattern=_TRACE)] = None,
    span_id: Annotated[str | None, Query(pattern=_SPAN)] = None,
    result_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    run_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    name: Annotated[str | None, Query(max_length=MAX_SCORE_NAME)] = None,
    source: Annotated[str | None, Query(pattern="^(api|ingest|client|evaluator)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> JSONResponse:
    """The project's scores, newest first, filtered by what they judge and by name."""
    check_no_nul(name=name)
    filters = ScoreFilters(
        trace_id=trace_id.lower() if trace_id else None,
        span_id=span_id.lower() if span_id else None,
        result_id=result_id.lower() if result_id else None,
        run_id=run_id.lower() if run_id else None,
        name=name,
        source=source,
    )
    return await page_in_project(
        request, project, limit, offset, lambda db, p, n, o: list_scores(db, p, filters, n, o)
    )
