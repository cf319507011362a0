"""Run comparison and structural trace diff (see ``spanlink.receiver.compare``).

- ``GET /api/v1/test-runs/{run_id}/compare?baseline={run_id|auto}``
- ``GET /api/v1/traces/{a}/diff/{b}``
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api._http import RunId, or_404
from spanlink.receiver.api.auth import Project, project_transaction
from spanlink.receiver.compare import (
    MAX_DIFF_SPANS,
    Thresholds,
    TraceTooLarge,
    auto_baseline,
    compare_runs,
    diff_traces,
    load_diff_trace,
    load_run,
    load_run_row,
    runs_between,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["compare"])

_TRACE_ID = Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")


def _json(answer: dict[str, Any]) -> Response:
    # Encoded here, on the worker thread: a diff of large traces is thousands of entries,
    # which FastAPI's generic encoder would walk again on the event loop.
    body = json.dumps(answer, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


def _score_thresholds(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition(":")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not name or not number >= 0:
            raise HTTPException(
                422, f"score_threshold {item!r}: write NAME:DROP, e.g. relevance:0.05"
            )
        out[name] = number
    return out


def _compare(
    engine: Engine,
    project: int,
    run_id: str,
    baseline_id: str,
    branch: str | None,
    thresholds: Thresholds,
) -> Response:
    with project_transaction(engine, project) as connection:
        run = or_404(load_run_row(connection, project, run_id), f"test run {run_id}")
        if baseline_id == "auto":
            baseline = auto_baseline(connection, project, run, branch)
            if baseline is None:
                raise HTTPException(
                    404,
                    f"no baseline for run {run_id}: no finished run of dataset "
                    f"{run.dataset!r} on branch {branch or run.base_branch!r} before it; "
                    "pass baseline=<run id> or branch=<name>",
                )
        else:
            baseline = or_404(
                load_run_row(connection, project, baseline_id), f"baseline test run {baseline_id}"
            )
        between = runs_between(connection, project, baseline, run) if run.id != baseline.id else []
        answer = compare_runs(
            load_run(connection, project, run),
            load_run(connection, project, baseline),
            thresholds=thresholds,
            intermediates=between,
        )
    answer["baseline"]["selected"] = "auto" if baseline_id == "auto" else "given"
    return _json(answer)


@router.get(
    "/test-runs/{run_id}/compare",
    response_class=JSONResponse,
    responses={
        404: {"description": "no such run or baseline in this project, or no auto baseline"},
        422: {"description": "a malformed parameter"},
    },
)
async def compare_test_run(
    request: Request,
    project: Project,
    run_id: RunId,
    baseline: Annotated[
        str,
        Query(
            pattern=r"^(auto|[0-9a-fA-F-]{1,64})$",
            description="a run id, or `auto`: the latest finished run of the same dataset "
            "or suite on the baseline branch",
        ),
    ] = "auto",
    branch: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00]+$",
            description="baseline branch for `auto` (default: the run's recorded "
            "`git.base_branch`, else `main`)",
        ),
    ] = None,
    latency_ratio: Annotated[float, Query(ge=0)] = 0.2,
    tokens_ratio: Annotated[float, Query(ge=0)] = 0.2,
    cost_ratio: Annotated[float, Query(ge=0)] = 0.2,
    score_drop: Annotated[float, Query(ge=0, description="default score threshold")] = 0.1,
    score_threshold: Annotated[
        list[str] | None, Query(description="per evaluator, NAME:DROP (repeatable)")
    ] = None,
) -> Response:
    """Compare a run with its baseline case by case; regressions first, with reasons."""
    thresholds = Thresholds(
        score_drop=_score_thresholds(score_threshold or []),
        default_score_drop=score_drop,
        latency_ratio=latency_ratio,
        tokens_ratio=tokens_ratio,
        cost_ratio=cost_ratio,
    )
    return await run_in_threadpool(
        _compare, request.app.state.engine, project, run_id, baseline, branch, thresholds
    )


def _diff(engine: Engine, project: int, a: str, b: str) -> Response:
    with project_transaction(engine, project) as connection:
        try:
            side_a = load_diff_trace(connection, project, a, "a")
            side_b = load_diff_trace(connection, project, b, "b")
        except TraceTooLarge as error:
            raise HTTPException(413, str(error)) from None
    if side_a is None or side_b is None:
        missing = a if side_a is None else b
        raise HTTPException(404, f"trace {missing} not found in this project")
    return _json(diff_traces(side_a[0], side_b[0], enrichment_a=side_a[1], enrichment_b=side_b[1]))


@router.get(
    "/traces/{a}/diff/{b}",
    response_class=JSONResponse,
    responses={
        404: {"description": "either trace is not in this project"},
        413: {"description": f"a trace has more than {MAX_DIFF_SPANS} spans"},
    },
)
async def diff_two_traces(
    request: Request,
    project: Project,
    a: Annotated[str, _TRACE_ID],
    b: Annotated[str, _TRACE_ID],
) -> Response:
    """Align the span trees of traces ``a`` and ``b``; name their first divergence."""
    return await run_in_threadpool(_diff, request.app.state.engine, project, a.lower(), b.lower())
