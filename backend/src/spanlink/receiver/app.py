"""The receiver's FastAPI application: OTLP ingest, the query API, health checks.

``create_app(settings)`` builds a self-contained app (its own engine and pool, disposed on
shutdown). After every committed ingest batch, each callable in
``app.state.commit_listeners`` is called with ``(project_id, trace_ids)`` — the hook the
enrichment pipeline uses; a listener that raises is logged and never fails the request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from spanlink.receiver import __version__
from spanlink.receiver.db import DatabaseUnavailable, create_app_engine, database_errors
from spanlink.receiver.db import project_scope as _scope
from spanlink.receiver.enrichment import install_enrichment
from spanlink.receiver.ingest import CommitListener, prepare_batch, write_batch
from spanlink.receiver.keys import KeyResolver
from spanlink.receiver.migrate import is_current
from spanlink.receiver.models import Health, Metrics, TraceDetail, TraceList
from spanlink.receiver.otlp import (
    BodyTooLarge,
    Encoding,
    OTLPError,
    decode_request,
    encode_response,
    parse_content_type,
)
from spanlink.receiver.queries import TraceFilters, get_trace_json, list_traces, metrics
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import install_testruns
from spanlink.receiver.ui import router as ui_router

__all__ = ["create_app"]

logger = logging.getLogger("spanlink.receiver")

_INT64_MAX = 2**63 - 1
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer slk_...`")


def _retry_after(settings: Settings, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": 503, "message": message},
        status_code=503,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def _ns(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = (value - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)
    return max(-_INT64_MAX, min(_INT64_MAX, int(seconds) * 1000))


def _no_nul(**values: str | None) -> None:
    for name, value in values.items():
        if value is not None and "\x00" in value:
            raise HTTPException(400, f"query parameter {name!r} must not contain NUL characters")


# Paths whose requests FastAPI's own OpenTelemetry spans must never cover: tracing the
# ingestion of spans would feed every export back into the next one when the receiver
# shares a process (and a tracer provider) with the app it receives from.
_UNTRACED_PATHS = frozenset({"/v1/traces", "/telemetry/traces", "/ws/endpoints"})


def _native_telemetry_settings() -> dict[str, Any]:
    """``FastAPI(telemetry=...)`` excluding ingestion, on FastAPI versions that trace natively."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"exclude": lambda scope: scope.get("path") in _UNTRACED_PATHS}}


async def project_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    """The project of the presented API key (401 when missing or unknown)."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            401,
            "missing API key: send `Authorization: Bearer <key>` "
            "(create one with `spanlink-receiver keys create --project NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    resolver: KeyResolver = request.app.state.key_resolver

    def resolve(key: str) -> int | None:
        with database_errors():
            return resolver.resolve(key)

    found = await run_in_threadpool(resolve, credentials.credentials)
    if found is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return found


#: The project id of the request's API key.
Project = Annotated[int, Depends(project_id)]


def create_app(settings: Settings) -> FastAPI:
    """Build the receiver app for ``settings`` (``settings.database_url`` is required)."""
    engine = create_app_engine(settings)
    resolver = KeyResolver(engine, settings.api_key_cache_seconds)
    listeners: list[CommitListener] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ingest_slots = asyncio.Semaphore(settings.max_concurrent_ingest)
        await testruns.start()
        try:
            yield
        finally:
            await testruns.stop()
            await run_in_threadpool(engine.dispose)

    app = FastAPI(
        title="spanlink receiver",
        version=__version__,
        description="OTLP/HTTP trace ingestion and the spanlink query API.",
        lifespan=lifespan,
        **_native_telemetry_settings(),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.key_resolver = resolver
    app.state.commit_listeners = listeners
    app.state.ingest_slots = asyncio.Semaphore(settings.max_concurrent_ingest)
    enrichment = install_enrichment(app, settings, engine, project_id)
    testruns = install_testruns(app, settings, engine)

    @app.exception_handler(DatabaseUnavailable)
    async def _database_down(_request: Request, error: DatabaseUnavailable) -> JSONResponse:
        logger.warning("database unavailable: %s", error)
        return _retry_after(settings, "database unavailable; retry later")

    # ---------------------------------------------------------------- ingest (OTLP/HTTP)

    def _error(encoding: Encoding | None, status: int, message: str) -> JSONResponse:
        del encoding  # errors are JSON google.rpc.Status-like bodies whatever the request
        return JSONResponse({"code": status, "message": message}, status_code=status)

    async def _read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
        return bytes(chunks)

    def _ingest(project: int, body: bytes, content_type: str | None, encoding_header: str | None):  # type: ignore[no-untyped-def]
        request_message, encoding = decode_request(
            body, content_type, encoding_header, settings.max_decompressed_bytes
        )
        batch = prepare_batch(project, request_message)
        received = len(batch.rows) + batch.rejected
        if batch.rejected and not batch.rows:
            raise OTLPError(batch.error_message)
        result = write_batch(engine, project, batch.rows, received=received)
        return encoding, batch, result

    async def export_traces(request: Request, project: Project) -> Response:
        content_type = request.headers.get("content-type")
        try:
            encoding = parse_content_type(content_type)
        except OTLPError as error:
            return _error(None, error.status, str(error))
        slots: asyncio.Semaphore = request.app.state.ingest_slots
        try:
            await asyncio.wait_for(slots.acquire(), timeout=settings.ingest_queue_timeout)
        except asyncio.TimeoutError:
            return _retry_after(settings, "ingest queue is full; retry later")
        try:
            body = await _read_body(request)
            encoding, batch, result = await run_in_threadpool(
                _ingest, project, body, content_type, request.headers.get("content-encoding")
            )
        except OTLPError as error:
            return _error(encoding, error.status, str(error))
        finally:
            slots.release()
        for listener in listeners:
            try:
                listener(project, result.trace_ids)
            except Exception:  # a listener never fails an ingest that already committed
                logger.exception("ingest commit listener %r failed", listener)
        return Response(
            encode_response(encoding, batch.rejected, batch.error_message),
            media_type=encoding.value,
        )

    ingest_doc = {
        "summary": "OTLP/HTTP trace export",
        "description": (
            "Body: an OTLP `ExportTraceServiceRequest` as `application/x-protobuf` or "
            "`application/json`, optionally `Content-Encoding: gzip` or `deflate`. "
            "Answers an `ExportTraceServiceResponse` in the request's encoding "
            "(`partialSuccess` names rejected spans). Errors: 400 malformed, 401, 413, 415, "
            "503 with `Retry-After`."
        ),
        "tags": ["ingest"],
        "response_class": Response,
    }
    app.post("/v1/traces", **ingest_doc)(export_traces)  # type: ignore[arg-type]
    app.post("/telemetry/traces", **ingest_doc)(export_traces)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- query API

    @app.get("/api/v1/traces", response_model=TraceList, tags=["query"])
    def traces_list(
        project: Project,
        environment: str | None = None,
        service: str | None = None,
        test_run_id: str | None = None,
        test_case_id: str | None = None,
        test_result_id: str | None = None,
        status: Annotated[str | None, Query(pattern="^(error|ok)$")] = None,
        name: Annotated[str | None, Query(max_length=1000)] = None,
        q: Annotated[str | None, Query(max_length=500, description="full-text search")] = None,
        root_only: Annotated[
            bool, Query(description="name/q/test filters match root spans only")
        ] = False,
        start_time: Annotated[
            datetime | None, Query(description="traces starting at/after")
        ] = None,
        end_time: Annotated[datetime | None, Query(description="traces starting at/before")] = None,
        min_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
        max_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> JSONResponse:
        """Traces of the key's project, newest first, with the total matching the filters."""
        _no_nul(
            environment=environment,
            service=service,
            test_run_id=test_run_id,
            test_case_id=test_case_id,
            test_result_id=test_result_id,
            name=name,
            q=q,
        )
        filters = TraceFilters(
            environment=environment,
            service=service,
            test_run_id=test_run_id,
            test_case_id=test_case_id,
            test_result_id=test_result_id,
            status=status,
            name=name,
            q=q,
            root_only=root_only,
            start_ns=_ns(start_time),
            end_ns=_ns(end_time),
            min_duration_ns=None if min_duration_ms is None else int(min_duration_ms * 1e6),
            max_duration_ns=None if max_duration_ms is None else int(max_duration_ms * 1e6),
        )
        with database_errors(), engine.begin() as connection:
            _scope(connection, project)
            rows, total = list_traces(connection, project, filters, limit, offset)
        next_offset = offset + len(rows) if offset + len(rows) < total else None
        return JSONResponse(
            {
                "items": rows,
                "total": total,
                "limit": limit,
                "offset": offset,
                "next_offset": next_offset,
            }
        )

    @app.get(
        "/api/v1/traces/{trace_id}",
        response_model=TraceDetail,
        tags=["query"],
        responses={404: {"description": "no such trace in this project"}},
    )
    def trace_detail(
        project: Project,
        trace_id: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")],
        sync: Annotated[
            bool, Query(description="compute and store the enrichment now if missing or stale")
        ] = False,
    ) -> Response:
        """One trace: spans depth-first (orphans as roots), its enrichment and test links."""
        if sync:
            enrichment.ensure_fresh(project, trace_id.lower())
        with database_errors(), engine.begin() as connection:
            _scope(connection, project)
            body = get_trace_json(connection, project, trace_id.lower())
        if body is None:
            raise HTTPException(404, f"trace {trace_id} not found in this project")
        return Response(body, media_type="application/json")

    @app.get("/api/v1/metrics", response_model=Metrics, tags=["query"])
    def metrics_view(
        project: Project,
        start_time: Annotated[datetime | None, Query(description="default: 24 h ago")] = None,
        end_time: Annotated[datetime | None, Query(description="default: now")] = None,
    ) -> JSONResponse:
        """Latency percentiles, error rate, tokens and cost by model over a time range."""
        now = time.time_ns()
        end_ns = _ns(end_time) if end_time is not None else now
        start_ns = _ns(start_time) if start_time is not None else now - 86_400 * 10**9
        assert start_ns is not None and end_ns is not None
        with database_errors(), engine.begin() as connection:
            _scope(connection, project)
            result: dict[str, Any] = metrics(connection, project, start_ns, end_ns)
        return JSONResponse(result)

    # ---------------------------------------------------------------- health

    @app.get("/healthz", response_model=Health, response_model_exclude_none=True, tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["health"],
        responses={503: {"model": Health, "description": "not ready"}},
    )
    def readyz() -> JSONResponse:
        """Ready when the database answers and its schema is at this version's migration."""
        try:
            with database_errors(), engine.connect() as connection:
                current = is_current(connection)
        except DatabaseUnavailable as error:
            return JSONResponse(
                {"status": "unavailable", "detail": f"database unreachable: {error}"},
                status_code=503,
                headers={"Retry-After": str(settings.retry_after_seconds)},
            )
        if not current:
            return JSONResponse(
                {"status": "unavailable", "detail": "run `spanlink-receiver migrate`"},
                status_code=503,
            )
        return JSONResponse({"status": "ok"})

    # ---------------------------------------------------------------- trace viewer

    app.include_router(ui_router)  # /ui/ (static page) and / -> /ui/

    return app
