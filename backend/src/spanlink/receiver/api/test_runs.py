"""The test-run HTTP API: start, list, read and cancel runs.

``POST /test-runs`` with a ``source`` and no ``function`` creates a client-reported run
(e.g. pytest); its results and finish are in ``reported_runs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api._http import Offset, RunId, or_404, page_in_project
from spanlink.receiver.api.auth import Project, in_project, project_transaction
from spanlink.receiver.api.datasets import (
    DATASET_NAME,
    MAX_EVALUATORS,
    EvaluatorIn,
    check_evaluators,
    dataset_version,
)
from spanlink.receiver.api.reported_runs import ReportedRunIn, create_reported_run, run_url
from spanlink.receiver.testruns import store
from spanlink.receiver.testruns.service import NoEndpoint, RunRequest, TestRunService

__all__ = ["CaseIn", "TestRunIn", "router"]

router = APIRouter(prefix="/api/v1", tags=["test runs"])

#: Most cases in one run.
MAX_CASES = 10_000


class CaseIn(BaseModel):
    """One test case."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: case-<n>"
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="the function's keyword arguments"
    )
    expected_output: Any = Field(
        default=None,
        description="when given (and no evaluators), judged by the `equals` evaluator",
    )
    evaluators: list[EvaluatorIn] = Field(
        default_factory=list, max_length=MAX_EVALUATORS, description="default: the run's"
    )


class TestRunIn(BaseModel):
    """``POST /api/v1/test-runs``."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    function: str = Field(min_length=1, max_length=200, description="the @endpoint name")
    cases: list[CaseIn] = Field(default_factory=list, max_length=MAX_CASES)
    dataset: str | None = Field(
        default=None, pattern=DATASET_NAME, description="run this dataset's cases (not cases)"
    )
    dataset_version: int | None = Field(default=None, ge=1, description="default: the latest")
    evaluators: list[EvaluatorIn] = Field(
        default_factory=list,
        max_length=MAX_EVALUATORS,
        description="for every case that names none of its own",
    )
    environment: str | None = Field(default=None, max_length=200)
    configuration_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="per case")
    concurrency: int = Field(default=4, ge=1, le=64, description="cases running at once")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cases_or_dataset(self) -> TestRunIn:
        if self.dataset is None and not self.cases:
            raise ValueError("give cases, or a dataset to take them from")
        if self.dataset is not None and self.cases:
            raise ValueError("give either cases or a dataset, not both")
        if self.dataset_version is not None and self.dataset is None:
            raise ValueError("dataset_version needs dataset")
        return self

    @field_validator("function", "environment", "configuration_id", "name")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _service(request: Request) -> TestRunService:
    service: TestRunService = request.app.state.testruns
    return service


def _dataset_cases(
    request: Request, project: int, body: TestRunIn
) -> tuple[list[store.CaseInput], dict[str, Any]]:
    """The cases of the run's dataset version and what the run records of it; 404 when
    the dataset or version is not in this project."""
    assert body.dataset is not None
    with project_transaction(request.app.state.engine, project) as db:
        found = dataset_version(db, project, body.dataset, body.dataset_version)
    if not found["cases"]:
        raise HTTPException(422, f"dataset {body.dataset!r} version {found['version']} is empty")
    cases = [
        store.CaseInput(
            case["id"],
            case["inputs"],
            case.get("expected_output"),
            "expected_output" in case,
            evaluators=case["evaluators"],
            metadata=case["metadata"],
        )
        for case in found["cases"]
    ]
    return cases, {
        "dataset": found["name"],
        "dataset_id": found["id"],
        "dataset_version": found["version"],
    }


def _cases(body: TestRunIn) -> list[store.CaseInput]:
    cases: list[store.CaseInput] = []
    seen: set[str] = set()
    for index, case in enumerate(body.cases):
        case_id = case.id or f"case-{index + 1}"
        if "\x00" in case_id:
            raise HTTPException(422, f"cases[{index}].id must not contain NUL characters")
        if case_id in seen:
            raise HTTPException(422, f"cases[{index}].id {case_id!r} is used twice in this run")
        seen.add(case_id)
        has_expected = "expected_output" in case.model_fields_set
        cases.append(
            store.CaseInput(
                case_id,
                case.inputs,
                case.expected_output,
                has_expected,
                evaluators=[e.model_dump() for e in case.evaluators],
            )
        )
    return cases


@router.post(
    "/test-runs",
    status_code=201,
    responses={409: {"description": "no endpoint, or the run id is taken"}},
)
async def create_test_run(
    body: Annotated[TestRunIn | ReportedRunIn, Body()], request: Request, project: Project
) -> JSONResponse:
    """Start a run: a result id per case is allocated now; cases are invoked in the background.

    Poll ``GET /api/v1/test-runs/{id}`` for progress and results. 409 when no endpoint of the
    project (and environment) offering the function is connected. With ``dataset`` (and
    ``dataset_version``, default the latest) the run takes that version's cases and records
    ``dataset``, ``dataset_id`` and ``dataset_version`` in its metadata, so runs of one
    dataset compare case by case.

    With ``source`` and no ``function`` (a client-reported run, e.g. pytest) the run is only
    created (200 when it existed already); the client reports its results.
    """
    if isinstance(body, ReportedRunIn):
        return await create_reported_run(body, request, project)
    metadata = dict(body.metadata)
    groups = [(f"cases[{i}].", c.evaluators) for i, c in enumerate(body.cases) if c.evaluators]
    if body.evaluators:
        groups.append(("", body.evaluators))
        metadata["evaluators"] = [e.model_dump() for e in body.evaluators]
    # Unknown evaluators and parameters they refuse are a 422 now, not an error per case.
    await run_in_threadpool(check_evaluators, request.app.state.evaluators, groups)
    if body.dataset is not None:
        cases, dataset = await run_in_threadpool(_dataset_cases, request, project, body)
        metadata.update(dataset)
    else:
        cases = _cases(body)
    settings = {"function", "environment", "configuration_id", "name", "timeout_s", "concurrency"}
    run = RunRequest(cases=cases, metadata=metadata, **body.model_dump(include=settings))
    try:
        created = await _service(request).start_run(project, run)
    except NoEndpoint as error:
        raise HTTPException(409, str(error)) from None
    created["results"] = [
        {"id": result_id, "case_id": case.case_id}
        for result_id, case in zip(created.pop("result_ids"), cases, strict=True)
    ]
    return JSONResponse(created, status_code=201)


@router.get("/test-runs")
async def list_test_runs(
    request: Request,
    project: Project,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """The project's runs, newest first, with their progress."""
    return await page_in_project(request, project, limit, offset, store.list_runs)


@router.get("/test-runs/{run_id}", responses={404: {"description": "no such run"}})
async def get_test_run(request: Request, project: Project, run_id: RunId) -> JSONResponse:
    """A run with each case's result, linked trace ids, tokens, cost and anomalies."""
    run = or_404(
        await in_project(request, project, lambda db: store.get_run(db, project, run_id.lower())),
        f"test run {run_id}",
    )
    run["url"] = run_url(request, run["id"])
    return JSONResponse(run)


@router.post("/test-runs/{run_id}/cancel", responses={404: {"description": "no such run"}})
async def cancel_test_run(request: Request, project: Project, run_id: RunId) -> JSONResponse:
    """Cancel a run: pending cases close at once, running ones are cancelled at the endpoint."""
    status = or_404(
        await _service(request).cancel_run(project, run_id.lower(), "cancelled by request"),
        f"test run {run_id}",
    )
    return JSONResponse({"id": run_id.lower(), "status": status})
