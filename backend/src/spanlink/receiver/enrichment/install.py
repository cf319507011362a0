"""Wire enrichment into a receiver app: commit listener, lifespan, prices API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from spanlink.receiver.enrichment.prices import prices_router
from spanlink.receiver.enrichment.service import EnrichmentService
from spanlink.receiver.settings import Settings

__all__ = ["install_enrichment"]


def install_enrichment(
    app: FastAPI, settings: Settings, engine: Engine, project_dependency: Callable[..., Any]
) -> EnrichmentService:
    """Add enrichment to ``app``: ``app.state.enrichment``, workers during its lifespan.

    ``project_dependency`` resolves the request's API key to its project id.
    """
    service = EnrichmentService(settings, engine)
    app.state.enrichment = service
    app.state.commit_listeners.append(service.on_commit)
    app.include_router(prices_router(engine, project_dependency))

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            await service.start()
            try:
                yield state
            finally:
                await service.stop()

    app.router.lifespan_context = lifespan
    return service
