"""Client-reported test runs (e.g. pytest): report results, finish the run.

The run is created by ``POST /api/v1/test-runs`` with a ``source`` and no ``function`` (see
``test_runs``); the client runs the cases and reports them here (``testruns.reported``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api._http import ID_PATTERN, RunId, or_404
from spanlink.receiver.api.auth import Project, in_project
from spanlink.receiver.linking import ResultLink
from spanlink.receiver.redaction import RulesCache, redact_value
from spanlink.receiver.testruns import reported, store
from spanlink.receiver.testruns._redact import redact_reported
from spanlink.receiver.testruns.service import TestRunService

__all__ = [
    "MAX_RESULTS_PER_BATCH",
    "ReportedRunIn",
    "ResultIn",
    "ResultsIn",
    "ScoreIn",
    "create_reported_run",
    "router",
    "run_url",
]

router = APIRouter(prefix="/api/v1", tags=["test runs"])

#: Most results in one ``POST /test-runs/{id}/results``.
MAX_RESULTS_PER_BATCH = 1000
#: Longest failure text of one result, in characters.
MAX_ERROR_CHARS = 16_384


class ReportedRunIn(BaseModel):
    """``POST /api/v1/test-runs`` of a client-reported run: the client runs the cases."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, description='who reports, e.g. "pytest"')
    id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="client-allocated run id (creating it again is a no-op); default: new",
    )
    name: str | None = Field(default=None, max_length=500)
    environment: str | None = Field(default=None, max_length=200)
    configuration_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ScoreIn(BaseModel):
    """One score of a reported result."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200)
    value: float | None = None
    label: str | None = Field(default=None, max_length=200)
    passed: bool | None = None
    explanation: str | None = Field(default=None, max_length=8192)
    evaluator: str | None = Field(default=None, max_length=200)
    evaluator_version: str | None = Field(default=None, max_length=100)
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    error: str | None = Field(default=None, max_length=8192)
    metadata: dict[str, Any] = Field(default_factory=dict, description="e.g. a judge's usage")


class ResultIn(BaseModel):
    """One result of a client-reported run, upserted by its client-allocated ``id``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(pattern=ID_PATTERN)
    case_id: str = Field(min_length=1, max_length=2000)
    status: Literal["running", "passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    inputs: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    error: str | None = Field(default=None, max_length=MAX_ERROR_CHARS)
    duration_ms: float | None = Field(default=None, ge=0)
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    scores: list[ScoreIn] = Field(default_factory=list, max_length=200)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ResultsIn(BaseModel):
    """``POST /api/v1/test-runs/{id}/results``; an empty list refreshes the run only."""

    model_config = ConfigDict(extra="forbid")

    results: list[ResultIn] = Field(max_length=MAX_RESULTS_PER_BATCH)


def run_url(request: Request, run_id: str) -> str:
    """The viewer page of a run."""
    return f"{str(request.base_url).rstrip('/')}/ui/#/runs/{run_id}"


async def create_reported_run(body: ReportedRunIn, request: Request, project: int) -> JSONResponse:
    """Create a client-reported run (201), or find it (200) when its id exists already."""
    run_id = (body.id or uuid.uuid4().hex).lower()

    rules = await run_in_threadpool(request.app.state.redaction.get, project)

    def create(db: Connection) -> bool:
        return reported.create_reported_run(
            db,
            project,
            run_id=run_id,
            name=redact_value(body.name, rules),
            source=body.source,
            environment=body.environment,
            configuration_id=body.configuration_id,
            metadata=redact_value(body.metadata, rules),
        )

    try:
        created = await in_project(request, project, create)
    except reported.IdTaken as error:
        raise HTTPException(409, f"{error}; allocate a new id") from None
    answer = {
        "id": run_id,
        "source": body.source,
        "status": "running",
        "created": created,
        "url": run_url(request, run_id),
    }
    return JSONResponse(answer, status_code=201 if created else 200)


def _reported(db: Connection, project: int, run_id: str) -> None:
    if not reported.is_reported(db, project, run_id):
        raise HTTPException(
            404, f"client-reported test run {run_id} not found in this project; create it first"
        )


@router.post(
    "/test-runs/{run_id}/results",
    responses={
        404: {"description": "no such client-reported run"},
        409: {"description": "a result id belongs to another run"},
    },
)
async def report_results(
    request: Request, project: Project, run_id: RunId, body: ResultsIn
) -> JSONResponse:
    """Upsert results of a client-reported run by id (``running`` first, final later).

    Spans carrying a result's id are linked to it (and, through the linking strategy, spans
    of its trace); an empty list only tells the receiver the reporter is alive.
    """
    run_id = run_id.lower()
    # ``ResultIn`` has the fields of ``ReportedResult`` (its scores as dicts).
    results = [
        reported.ReportedResult(**{**item.model_dump(), "id": item.id.lower()})
        for item in body.results
    ]
    service: TestRunService = request.app.state.testruns
    strategy = service.strategy

    redaction: RulesCache = request.app.state.redaction

    def write(db: Connection) -> int:
        _reported(db, project, run_id)
        redacted = redact_reported(results, redaction.get(project))
        final = reported.upsert_results(db, project, run_id, redacted)
        for result in final:
            strategy.link_result(
                db, project, ResultLink(result.id, run_id, result.case_id, result.trace_id)
            )
        return len(final)

    try:
        finished = await in_project(request, project, write)
    except reported.IdTaken as error:
        raise HTTPException(409, str(error)) from None
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) in reported.ID_CONFLICT_STATES:
            raise HTTPException(409, "a result id is already used; allocate new ids") from None
        raise
    return JSONResponse({"accepted": len(results), "finished": finished})


@router.post(
    "/test-runs/{run_id}/finish", responses={404: {"description": "no such client-reported run"}}
)
async def finish_test_run(request: Request, project: Project, run_id: RunId) -> JSONResponse:
    """Finish a client-reported run (results still ``running`` become ``error``); returns
    the run as ``GET /api/v1/test-runs/{id}`` does."""
    run_id = run_id.lower()

    def finish(db: Connection) -> dict[str, Any] | None:
        _reported(db, project, run_id)
        reported.finish_reported_run(db, run_id)
        return store.get_run(db, project, run_id)

    # (Not None: ``_reported`` checked the run in the same transaction.)
    run = or_404(await in_project(request, project, finish), f"test run {run_id}")
    run["url"] = run_url(request, run_id)
    return JSONResponse(run)
