"""The receiver's FastAPI application: the routers of ``api`` and the services they use.

``create_app(settings)`` builds a self-contained app: its own engine and pool, the API-key
resolver, the enrichment and test-run services, and one lifespan that starts the services
and, on shutdown, stops them and disposes of the engine. After every committed ingest batch,
each callable in ``app.state.commit_listeners`` is called with ``(project_id, trace_ids)``
(enrichment queues the traces, test runs link their spans).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from spanlink.receiver._version import __version__
from spanlink.receiver.api import ROUTERS
from spanlink.receiver.api._errors import error_response, install_error_handlers
from spanlink.receiver.api._http import reject_unknown_query, retry_later
from spanlink.receiver.api._strict_json import StrictJSONBodies
from spanlink.receiver.enrichment import EnrichmentService, default_plugins
from spanlink.receiver.evaluation import EvaluationService, EvaluatorRegistry
from spanlink.receiver.ingest import CommitListener
from spanlink.receiver.redaction import IngestRedaction, RedactionConfig, RulesCache, load_config
from spanlink.receiver.search import SearchIndexer
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import (
    DatabaseRejected,
    DatabaseUnavailable,
    KeyResolver,
    create_app_engine,
    project_transaction,
)
from spanlink.receiver.testruns.service import TestRunService
from spanlink.receiver.testruns.websocket import router as endpoint_socket_router

__all__ = ["APP_FACTORY", "create_app", "create_app_from_environment"]

logger = logging.getLogger("spanlink.receiver")

# Paths whose requests FastAPI's own OpenTelemetry spans must never cover: tracing the
# ingestion of spans would feed every export back into the next one when the receiver
# shares a process (and a tracer provider) with the app it receives from.
_UNTRACED_PATHS = frozenset({"/v1/traces", "/telemetry/traces", "/ws/endpoints"})


def _native_telemetry_settings() -> dict[str, Any]:
    """``FastAPI(telemetry=...)`` excluding ingestion, on FastAPI versions that trace natively."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"exclude": lambda scope: scope.get("path") in _UNTRACED_PATHS}}


#: Import string of :func:`create_app_from_environment`, for ASGI servers that start workers.
APP_FACTORY = "spanlink.receiver.app:create_app_from_environment"


def create_app_from_environment() -> FastAPI:
    """Build the receiver app from the ``SPANLINK_*`` variables (one per worker process)."""
    from spanlink.receiver._gc import tune_for_serving

    app = create_app(Settings())
    tune_for_serving()  # a worker process serves and nothing else
    return app


def create_app(settings: Settings) -> FastAPI:
    """Build the receiver app for ``settings`` (``settings.database_url`` is required)."""
    engine = create_app_engine(settings)

    def load_redaction(project_id: int) -> RedactionConfig:
        with project_transaction(engine, project_id) as connection:
            return load_config(connection, project_id)[0]

    redaction = RulesCache(load_redaction, settings.redaction_cache_seconds)
    enrichment = EnrichmentService(settings, engine)
    indexer = SearchIndexer(settings, engine)
    evaluators = EvaluatorRegistry()
    evaluation = EvaluationService(settings, engine, evaluators, redaction)
    testruns = TestRunService(settings, engine, redaction, evaluation)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ingest_slots = asyncio.Semaphore(settings.max_concurrent_ingest)
        await evaluation.start()
        await testruns.start()
        try:
            await enrichment.start()
            await indexer.start()
            try:
                yield
            finally:
                await indexer.stop()
                await enrichment.stop()
        finally:
            await testruns.stop()
            await evaluation.stop()
            await run_in_threadpool(engine.dispose)

    app = FastAPI(
        title="spanlink receiver",
        version=__version__,
        description="OTLP/HTTP trace ingestion and the spanlink query API.",
        lifespan=lifespan,
        # Every GET route answers 422 for a query parameter it does not declare.
        dependencies=[Depends(reject_unknown_query)],
        **_native_telemetry_settings(),
    )
    install_error_handlers(app)
    app.add_middleware(StrictJSONBodies)  # NaN/Infinity in a JSON body: 422, never a 500
    app.state.settings = settings
    app.state.engine = engine
    app.state.key_resolver = KeyResolver(engine, settings.api_key_cache_seconds)
    app.state.ingest_slots = asyncio.Semaphore(settings.max_concurrent_ingest)
    app.state.enrichment = enrichment
    app.state.redaction = redaction
    # The plugins' spanlink_redact_ingest, after the project's rules (entry points are loaded
    # when the first batch arrives; ``use_plugins`` replaces them).
    app.state.ingest_redaction = IngestRedaction(
        lambda: default_plugins().manager, settings.enrichment_plugin_config
    )
    app.state.testruns = testruns
    app.state.evaluators = evaluators
    app.state.evaluation = evaluation
    app.state.search_indexer = indexer
    listeners: list[CommitListener] = [enrichment.on_commit, testruns.on_commit, indexer.on_commit]
    app.state.commit_listeners = listeners

    @app.exception_handler(DatabaseUnavailable)
    async def _database_down(_request: Request, error: DatabaseUnavailable) -> JSONResponse:
        logger.warning("database unavailable: %s", error)
        return retry_later(settings, "database unavailable; retry later")

    @app.exception_handler(DatabaseRejected)
    async def _database_refused(_request: Request, error: DatabaseRejected) -> JSONResponse:
        # The request's own data cannot be stored: a 4xx, never "retry later".
        return error_response(error.status, f"the database refused the request's data: {error}")

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(endpoint_socket_router)  # WS /ws/endpoints
    return app
