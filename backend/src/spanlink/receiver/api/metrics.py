"""``GET /api/v1/metrics``: latency, errors, tokens and cost by model over a time range."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from spanlink.receiver.api._http import unix_ns
from spanlink.receiver.api.auth import Project, project_transaction
from spanlink.receiver.api.responses import Metrics
from spanlink.receiver.storage import metrics

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["query"])

_DAY_NS = 86_400 * 10**9


@router.get("/metrics", response_model=Metrics)
def metrics_view(
    request: Request,
    project: Project,
    start_time: Annotated[datetime | None, Query(description="default: 24 h ago")] = None,
    end_time: Annotated[datetime | None, Query(description="default: now")] = None,
) -> JSONResponse:
    """Latency percentiles, error rate, tokens and cost by model over a time range."""
    now = time.time_ns()
    end_ns = unix_ns(end_time) if end_time is not None else now
    start_ns = unix_ns(start_time) if start_time is not None else now - _DAY_NS
    assert start_ns is not None and end_ns is not None
    engine: Engine = request.app.state.engine
    with project_transaction(engine, project) as connection:
        result: dict[str, Any] = metrics(connection, project, start_ns, end_ns)
    return JSONResponse(result)
