"""``POST /v1/traces`` (alias ``/telemetry/traces``): OTLP/HTTP trace export.

Decoding and the write run on a worker thread; at most ``max_concurrent_ingest`` requests
are processed at once (``app.state.ingest_slots``), others wait up to
``ingest_queue_timeout`` and then get 503. After a batch committed, every callable in
``app.state.commit_listeners`` is called with ``(project_id, trace_ids)``; a listener that
raises is logged and never fails the request.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api._http import retry_later
from spanlink.receiver.api.auth import Project
from spanlink.receiver.ingest import (
    BodyTooLarge,
    CommitListener,
    Encoding,
    IngestResult,
    OTLPError,
    PreparedBatch,
    decode_request,
    encode_response,
    parse_content_type,
    prepare_batch,
    write_batch,
)
from spanlink.receiver.redaction import IngestRedaction, RulesCache
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import database_deadline

__all__ = ["router"]

logger = logging.getLogger("spanlink.receiver")

router = APIRouter(tags=["ingest"])


def _error(status: int, message: str) -> JSONResponse:
    # Errors are JSON google.rpc.Status-like bodies whatever the request's encoding.
    return JSONResponse({"code": status, "message": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
    return bytes(chunks)


def _ingest(
    settings: Settings,
    engine: Engine,
    redaction: RulesCache,
    plugins: IngestRedaction,
    project: int,
    body: bytes,
    content_type: str | None,
    encoding_header: str | None,
) -> tuple[Encoding, PreparedBatch, IngestResult]:
    request_message, encoding = decode_request(
        body,
        content_type,
        encoding_header,
        settings.max_decompressed_bytes,
        max_spans=settings.max_spans_per_request,
        max_values=settings.max_values_per_span,
    )
    del body  # the decompressed form is all that is needed from here on
    with database_deadline(settings.database_deadline_s):
        rules = redaction.get(project)
    batch = prepare_batch(project, request_message, rules, plugins.for_project(project))
    received = len(batch.rows) + batch.rejected
    if batch.rejected and not batch.rows:
        raise OTLPError(batch.error_message)
    # One client-side deadline for the whole write: a frozen database answers 503 by then.
    with database_deadline(settings.database_deadline_s):
        result = write_batch(engine, project, batch.rows, received=received)
    for span_id in result.refused:
        batch.reject(f"span {span_id}: the database refused one of its values")
    if result.refused and len(result.refused) == len(batch.rows):
        raise OTLPError(batch.error_message)
    return encoding, batch, result


async def export_traces(request: Request, project: Project) -> Response:
    """Store an OTLP ``ExportTraceServiceRequest``; see the module docstring."""
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type")
    try:
        parse_content_type(content_type)
    except OTLPError as error:
        return _error(error.status, str(error))
    slots: asyncio.Semaphore = request.app.state.ingest_slots
    try:
        await asyncio.wait_for(slots.acquire(), timeout=settings.ingest_queue_timeout)
    except asyncio.TimeoutError:
        return retry_later(settings, "ingest queue is full; retry later")
    try:
        body = await _read_body(request, settings.max_body_bytes)
        encoding, batch, result = await run_in_threadpool(
            _ingest,
            settings,
            request.app.state.engine,
            request.app.state.redaction,
            request.app.state.ingest_redaction,
            project,
            body,
            content_type,
            request.headers.get("content-encoding"),
        )
    except OTLPError as error:
        return _error(error.status, str(error))
    finally:
        slots.release()
    listeners: list[CommitListener] = request.app.state.commit_listeners
    for listener in listeners:
        try:
            listener(project, result.trace_ids)
        except Exception:  # a listener never fails an ingest that already committed
            logger.exception("ingest commit listener %r failed", listener)
    return Response(
        encode_response(encoding, batch.rejected, batch.error_message),
        media_type=encoding.value,
    )


_DOC = {
    "summary": "OTLP/HTTP trace export",
    "description": (
        "Body: an OTLP `ExportTraceServiceRequest` as `application/x-protobuf` or "
        "`application/json`, optionally `Content-Encoding: gzip` or `deflate`. "
        "Answers an `ExportTraceServiceResponse` in the request's encoding "
        "(`partialSuccess` names rejected spans). Errors: 400 malformed, 401, 413, 415, "
        "503 with `Retry-After`."
    ),
    "response_class": Response,
}
router.post("/v1/traces", **_DOC)(export_traces)  # type: ignore[arg-type]
router.post("/telemetry/traces", **_DOC)(export_traces)  # type: ignore[arg-type]
