"""Datasets: ``POST /api/v1/datasets`` (create, or push a new version), ``POST
/api/v1/datasets/{name}/cases`` (add or replace cases by id), ``GET /api/v1/datasets`` and
``GET /api/v1/datasets/{name}?version=N``.

Cases' evaluator configurations are checked against the installed evaluators when they
are pushed (422 listing every problem); the project's redaction rules apply to case ids,
inputs, expected outputs and metadata before they are stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api._http import Offset, or_404, page_in_project
from spanlink.receiver.api.auth import Project, in_project
from spanlink.receiver.datasets import (
    DatasetCase,
    PushResult,
    get_version,
    list_datasets,
    push_cases,
    redact_dataset_cases,
)
from spanlink.receiver.evaluation import (
    EvaluatorConfigError,
    EvaluatorRegistry,
    config_from_dict,
)
from spanlink.receiver.redaction import RulesCache

__all__ = [
    "DATASET_NAME",
    "MAX_DATASET_CASES",
    "DatasetCaseIn",
    "DatasetIn",
    "EvaluatorIn",
    "check_evaluators",
    "dataset_version",
    "router",
]

router = APIRouter(prefix="/api/v1", tags=["datasets"])

#: A dataset name: no ``@`` (``NAME@VERSION`` names a version) and no ``/``.
DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$"
#: Most cases in one dataset version.
MAX_DATASET_CASES = 10_000
#: Most evaluators of one case (or one run's defaults).
MAX_EVALUATORS = 50


class EvaluatorIn(BaseModel):
    """An evaluator as a case (or a run, for all its cases) asks for it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200, description="an installed evaluator")
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(default=None, description="the value a score must reach")
    required: bool = Field(default=True, description="the case fails when this does not pass")


class DatasetCaseIn(BaseModel):
    """One case of a dataset."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str | None = Field(default=None, min_length=1, max_length=200, description="case-<n>")
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected_output: Any = Field(default=None, description="judged by `equals` by default")
    evaluators: list[EvaluatorIn] = Field(default_factory=list, max_length=MAX_EVALUATORS)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DatasetIn(BaseModel):
    """``POST /api/v1/datasets``: create a dataset, or push a new version of it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=DATASET_NAME)
    description: str | None = Field(default=None, max_length=2000)
    mode: Literal["replace", "add"] = Field(
        default="replace",
        description="replace: the cases are the new version; add: they replace the "
        "cases of the same id and the others are appended",
    )
    cases: list[DatasetCaseIn] = Field(min_length=1, max_length=MAX_DATASET_CASES)

    @field_validator("description")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class CasesIn(BaseModel):
    """``POST /api/v1/datasets/{name}/cases``: add cases (same id: replaced)."""

    model_config = ConfigDict(extra="forbid")

    cases: list[DatasetCaseIn] = Field(min_length=1, max_length=MAX_DATASET_CASES)


def check_evaluators(
    registry: EvaluatorRegistry, groups: list[tuple[str, list[EvaluatorIn]]]
) -> None:
    """422 naming every problem of the evaluator configurations (``(where, configs)``)."""
    try:
        registry.check(
            [(where, [config_from_dict(e.model_dump()) for e in items]) for where, items in groups]
        )
    except EvaluatorConfigError as error:
        raise HTTPException(422, str(error)) from None


def dataset_version(db: Connection, project: int, name: str, version: int | None) -> dict[str, Any]:
    """:func:`get_version` (default: the latest); 404 when the dataset or version is not
    in the project."""
    which = f"version {version} of dataset" if version is not None else "dataset"
    return or_404(get_version(db, project, name, version), f"{which} {name!r}")


def _cases(cases: list[DatasetCaseIn]) -> list[DatasetCase]:
    found: list[DatasetCase] = []
    seen: set[str] = set()
    for index, case in enumerate(cases):
        case_id = case.id or f"case-{index + 1}"
        if "\x00" in case_id:
            raise HTTPException(422, f"cases[{index}].id must not contain NUL characters")
        if case_id in seen:
            raise HTTPException(422, f"cases[{index}].id {case_id!r} is used twice")
        seen.add(case_id)
        found.append(
            DatasetCase(
                id=case_id,
                inputs=case.inputs,
                expected_output=case.expected_output,
                has_expected="expected_output" in case.model_fields_set,
                evaluators=[e.model_dump() for e in case.evaluators],
                metadata=case.metadata,
            )
        )
    return found


def _push_answer(name: str, pushed: PushResult) -> JSONResponse:
    return JSONResponse(
        {
            "id": pushed.dataset_id,
            "name": name,
            "version": pushed.version,
            "case_count": pushed.case_count,
            "created": pushed.created_dataset,
            "new_version": pushed.created_version,
        },
        status_code=201 if pushed.created_dataset else 200,
    )


async def _push(
    request: Request,
    project: int,
    name: str,
    items: list[DatasetCaseIn],
    mode: Literal["replace", "add"],
    description: str | None = None,
    must_exist: bool = False,
) -> JSONResponse:
    cases = _cases(items)
    registry: EvaluatorRegistry = request.app.state.evaluators
    groups = [(f"cases[{i}].", c.evaluators) for i, c in enumerate(items) if c.evaluators]
    await run_in_threadpool(check_evaluators, registry, groups)
    redaction: RulesCache = request.app.state.redaction

    def write(db: Connection) -> PushResult | None:
        if must_exist and get_version(db, project, name) is None:
            return None
        redacted = redact_dataset_cases(cases, redaction.get(project))
        return push_cases(db, project, name, redacted, mode=mode, description=description)

    pushed = await in_project(request, project, write)
    if pushed is None:
        raise HTTPException(404, f"dataset {name!r} not found in this project; create it first")
    return _push_answer(name, pushed)


@router.post("/datasets", status_code=201, responses={200: {"description": "a new version"}})
async def create_dataset(body: DatasetIn, request: Request, project: Project) -> JSONResponse:
    """Create a dataset with its cases as version 1 (201), or push the cases as the
    existing dataset's next version (200). Pushing what the latest version holds already
    makes no new version (``new_version`` false)."""
    return await _push(request, project, body.name, body.cases, body.mode, body.description)


@router.post("/datasets/{name}/cases", responses={404: {"description": "no such dataset"}})
async def add_cases(
    body: CasesIn,
    request: Request,
    project: Project,
    name: Annotated[str, Path(pattern=DATASET_NAME)],
) -> JSONResponse:
    """Add cases to a dataset as a new version: a case with an existing id replaces it."""
    return await _push(request, project, name, body.cases, "add", must_exist=True)


@router.get("/datasets")
async def get_datasets(
    request: Request,
    project: Project,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> JSONResponse:
    """The project's datasets by name, with their latest version and its case count."""
    return await page_in_project(request, project, limit, offset, list_datasets)


@router.get("/datasets/{name}", responses={404: {"description": "no such dataset or version"}})
async def get_dataset(
    request: Request,
    project: Project,
    name: Annotated[str, Path(pattern=DATASET_NAME)],
    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
) -> JSONResponse:
    """One version of a dataset with its cases, and the list of its versions."""
    return JSONResponse(
        await in_project(request, project, lambda db: dataset_version(db, project, name, version))
    )
