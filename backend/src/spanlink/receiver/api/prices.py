"""``GET/PUT /api/v1/prices``: the project's price table (see ``enrichment._prices``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api.auth import Project, project_transaction
from spanlink.receiver.enrichment import (
    PriceTableError,
    load_prices,
    save_prices,
    validate_price_table,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["enrichment"])


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _read(engine: Engine, project: int) -> dict[str, Any]:
    with project_transaction(engine, project) as connection:
        prices, updated = load_prices(connection, project)
    return {"prices": prices, "updated_at": _iso(updated)}


def _write(engine: Engine, project: int, prices: dict[str, Any]) -> dict[str, Any]:
    with project_transaction(engine, project) as connection:
        updated = save_prices(connection, project, prices)
    return {"prices": prices, "updated_at": _iso(updated)}


@router.get("/prices")
async def get_prices(request: Request, project: Project) -> dict[str, Any]:
    """This project's price table (model pattern -> USD per token); ``{}`` when unset."""
    return await run_in_threadpool(_read, request.app.state.engine, project)


@router.put(
    "/prices",
    responses={422: {"description": "malformed price table (the message says what)"}},
)
async def put_prices(
    request: Request,
    project: Project,
    body: dict[str, Any] = Body(  # noqa: B008
        ...,
        examples=[{"prices": {"my-finetune-*": {"input": 3e-06, "output": 1.2e-05}}}],
    ),
) -> dict[str, Any]:
    """Replace this project's price table; it overrides LiteLLM's prices for its traces."""
    if set(body) != {"prices"}:
        raise HTTPException(422, 'send {"prices": {"<model pattern>": {"input": ..., ...}}}')
    try:
        prices = validate_price_table(body["prices"])
    except PriceTableError as error:
        raise HTTPException(422, str(error)) from None
    return await run_in_threadpool(_write, request.app.state.engine, project, prices)
