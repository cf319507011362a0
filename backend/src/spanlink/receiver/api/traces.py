"""``GET /api/v1/traces`` (the list, with filters), ``GET /api/v1/traces/{trace_id}`` and
``GET /api/v1/traces/{trace_id}/spans/{span_id}``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from spanlink.receiver.api._http import check_no_nul, page, unix_ns
from spanlink.receiver.api.auth import Project, project_transaction
from spanlink.receiver.api.responses import (
    CompactTraceDetail,
    SpanDetail,
    TraceDetail,
    TraceList,
)
from spanlink.receiver.enrichment import EnrichmentService
from spanlink.receiver.storage import TraceFilters, get_span_json, list_traces, read_trace_json

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["query"])

# Text filters: Postgres text cannot hold NUL, so these are refused with 400.
_TEXT_FILTERS = (
    "environment",
    "service",
    "test_run_id",
    "test_case_id",
    "test_result_id",
    "session_id",
    "user_id",
    "conversation_id",
    "name",
    "q",
    "score_name",
)


@router.get("/traces", response_model=TraceList)
def traces_list(
    request: Request,
    project: Project,
    environment: str | None = None,
    service: str | None = None,
    test_run_id: str | None = None,
    test_case_id: str | None = None,
    test_result_id: str | None = None,
    session_id: Annotated[
        str | None, Query(min_length=1, max_length=1000, description="a span's session.id")
    ] = None,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=1000, description="a span's user.id")
    ] = None,
    conversation_id: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, description="a span's gen_ai.conversation.id"),
    ] = None,
    status: Annotated[str | None, Query(pattern="^(error|ok)$")] = None,
    name: Annotated[str | None, Query(max_length=1000)] = None,
    q: Annotated[str | None, Query(max_length=500, description="full-text search")] = None,
    root_only: Annotated[
        bool, Query(description="name/q/test filters match root spans only")
    ] = False,
    start_time: Annotated[datetime | None, Query(description="traces starting at/after")] = None,
    end_time: Annotated[datetime | None, Query(description="traces starting at/before")] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    max_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    score_name: Annotated[
        str | None, Query(max_length=200, description="has a score of this name")
    ] = None,
    score_min: Annotated[
        float | None, Query(allow_inf_nan=False, description="... with value >= this")
    ] = None,
    score_max: Annotated[
        float | None, Query(allow_inf_nan=False, description="... with value <= this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Traces of the key's project, newest first, with the total matching the filters.

    ``score_name`` (with ``score_min``/``score_max``) keeps traces that have such a score, or
    whose test result has one. ``total_is_estimate`` is true when the total of a text search
    for a word in many spans was extrapolated rather than counted.
    """
    if score_name is None and (score_min is not None or score_max is not None):
        raise HTTPException(422, "score_min and score_max need score_name")
    filters = TraceFilters(
        environment=environment,
        service=service,
        test_run_id=test_run_id,
        test_case_id=test_case_id,
        test_result_id=test_result_id,
        session_id=session_id,
        user_id=user_id,
        conversation_id=conversation_id,
        status=status,
        name=name,
        q=q,
        root_only=root_only,
        start_ns=unix_ns(start_time),
        end_ns=unix_ns(end_time),
        min_duration_ns=None if min_duration_ms is None else int(min_duration_ms * 1e6),
        max_duration_ns=None if max_duration_ms is None else int(max_duration_ms * 1e6),
        score_name=score_name,
        score_min=score_min,
        score_max=score_max,
    )
    check_no_nul(**{key: getattr(filters, key) for key in _TEXT_FILTERS})
    engine: Engine = request.app.state.engine
    rows, total, estimated = list_traces(engine, project, filters, limit, offset)
    return page(rows, total, limit, offset, total_is_estimate=estimated)


_TRACE_ID = Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")


@router.get(
    "/traces/{trace_id}",
    response_model=TraceDetail | CompactTraceDetail,
    responses={404: {"description": "no such trace in this project"}},
)
def trace_detail(
    request: Request,
    project: Project,
    trace_id: Annotated[str, _TRACE_ID],
    sync: Annotated[
        bool, Query(description="compute and store the enrichment now if missing or stale")
    ] = False,
    full: Annotated[
        bool,
        Query(
            description="each span also with its attributes, events, links, resource, scope "
            "and plugin results (the whole trace at once: large)"
        ),
    ] = False,
    compact: Annotated[
        bool,
        Query(
            description="spans as arrays of the `span_fields` in start order (the reader "
            "builds the tree: no `depth`, `children` or `root_span_ids`); what the viewer reads"
        ),
    ] = False,
) -> Response:
    """One trace: spans depth-first (orphans as roots), its enrichment and test links.

    Each span is lean (what a waterfall draws); ``GET .../spans/{span_id}`` has one span in
    full, ``full=true`` all of them. ``compact=true`` has the lean spans as rows, about
    half the bytes and no per-span work in the receiver.
    """
    if full and compact:
        raise HTTPException(422, "full and compact cannot be combined: ask for one")
    if sync:
        enrichment: EnrichmentService = request.app.state.enrichment
        enrichment.ensure_fresh(project, trace_id.lower())
    engine: Engine = request.app.state.engine
    body = read_trace_json(engine, project, trace_id.lower(), full=full, compact=compact)
    if body is None:
        raise HTTPException(404, f"trace {trace_id} not found in this project")
    return Response(body, media_type="application/json")


@router.get(
    "/traces/{trace_id}/spans/{span_id}",
    response_model=SpanDetail,
    responses={404: {"description": "no such span in this project's trace"}},
)
def span_detail(
    request: Request,
    project: Project,
    trace_id: Annotated[str, _TRACE_ID],
    span_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{16}$", description="16 hex digits")],
) -> Response:
    """One span with its attributes, events, links, resource, scope and plugin results."""
    engine: Engine = request.app.state.engine
    with project_transaction(engine, project) as connection:
        body = get_span_json(connection, project, trace_id.lower(), span_id.lower())
    if body is None:
        raise HTTPException(404, f"span {span_id} of trace {trace_id} not found in this project")
    return Response(body, media_type="application/json")
