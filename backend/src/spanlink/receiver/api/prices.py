"""``GET/PUT /api/v1/prices``: the project's price table (see ``enrichment._prices``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request

from spanlink.receiver.api.auth import Project, in_project
from spanlink.receiver.enrichment import (
    PriceTableError,
    load_prices,
    save_prices,
    validate_price_table,
)
from spanlink.receiver.storage._json import iso

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["enrichment"])


def _table(prices: dict[str, Any], updated: Any) -> dict[str, Any]:
    return {"prices": prices, "updated_at": iso(updated)}


@router.get("/prices")
async def get_prices(request: Request, project: Project) -> dict[str, Any]:
    """This project's price table (model pattern -> USD per token); ``{}`` when unset."""
    return _table(*await in_project(request, project, lambda db: load_prices(db, project)))


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
    updated = await in_project(request, project, lambda db: save_prices(db, project, prices))
    return _table(prices, updated)
