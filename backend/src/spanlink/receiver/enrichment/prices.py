"""The per-project price table: validation and ``GET/PUT /api/v1/prices``.

A price table maps a model name pattern (a glob such as ``my-finetune-*``, matched
case-insensitively by the cost plugin) to USD per-token prices::

    {"my-finetune-*": {"input": 3e-06, "output": 1.2e-05, "cache_read": 1.5e-06}}

``input`` and ``output`` are required; ``cache_read``, ``cache_creation`` and ``reasoning``
are optional (LiteLLM's key names are accepted too). The table is handed to the plugins as
``context["prices"]`` when this project's traces are enriched, and to no other project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.db import database_errors, project_scope
from spanlink.receiver.enrichment.store import load_prices, save_prices

__all__ = ["PRICE_FIELDS", "PriceTableError", "prices_router", "validate_price_table"]

#: Accepted price names: ours, then LiteLLM's spelling of the same price.
PRICE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_creation",
    "reasoning",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)
_REQUIRED = (("input", "input_cost_per_token"), ("output", "output_cost_per_token"))
MAX_PATTERNS = 1000


class PriceTableError(ValueError):
    """A price table is malformed; the message names the entry and what to fix."""


def validate_price_table(table: Any) -> dict[str, dict[str, float]]:
    """Check a price table and return it with float prices; raise ``PriceTableError``."""
    if not isinstance(table, Mapping):
        raise PriceTableError(
            f"prices must be an object of model pattern -> prices, got {type(table).__name__}"
        )
    if len(table) > MAX_PATTERNS:
        raise PriceTableError(f"at most {MAX_PATTERNS} model patterns, got {len(table)}")
    out: dict[str, dict[str, float]] = {}
    for pattern, entry in table.items():
        if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > 200:
            raise PriceTableError(f"model pattern must be 1 to 200 characters, got {pattern!r}")
        if "\x00" in pattern:
            raise PriceTableError(f"model pattern {pattern!r} must not contain NUL characters")
        try:
            pattern.encode("utf-8")
        except UnicodeEncodeError:
            raise PriceTableError(f"model pattern {pattern!r} is not valid Unicode") from None
        if not isinstance(entry, Mapping):
            raise PriceTableError(
                f"prices for {pattern!r} must be an object of per-token USD prices, got {entry!r}"
            )
        prices: dict[str, float] = {}
        for name, value in entry.items():
            if name not in PRICE_FIELDS:
                raise PriceTableError(
                    f"unknown price {name!r} for {pattern!r}; allowed: {', '.join(PRICE_FIELDS)}"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PriceTableError(
                    f"{pattern!r}.{name} must be a number (USD per token), got {value!r}"
                )
            if not math.isfinite(value) or value < 0:
                raise PriceTableError(
                    f"{pattern!r}.{name} must be a finite number >= 0, got {value!r}"
                )
            prices[name] = float(value)
        for names in _REQUIRED:
            if not any(name in prices for name in names):
                raise PriceTableError(
                    f"{pattern!r} needs {names[0]!r} (USD per token; use 0 for a price that "
                    "does not apply)"
                )
        out[pattern] = prices
    return out


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def prices_router(engine: Engine, project_dependency: Callable[..., Any]) -> APIRouter:
    """``GET/PUT /api/v1/prices`` for the project of the request's API key."""
    router = APIRouter(tags=["enrichment"])
    Project = Depends(project_dependency)

    def _read(project: int) -> dict[str, Any]:
        with database_errors(), engine.begin() as connection:
            project_scope(connection, project)
            prices, updated = load_prices(connection, project)
        return {"prices": prices, "updated_at": _iso(updated)}

    def _write(project: int, prices: dict[str, Any]) -> dict[str, Any]:
        with database_errors(), engine.begin() as connection:
            project_scope(connection, project)
            updated = save_prices(connection, project, prices)
        return {"prices": prices, "updated_at": _iso(updated)}

    @router.get("/api/v1/prices")
    async def get_prices(project: int = Project) -> dict[str, Any]:
        """This project's price table (model pattern -> USD per token); ``{}`` when unset."""
        return await run_in_threadpool(_read, project)

    @router.put(
        "/api/v1/prices",
        responses={422: {"description": "malformed price table (the message says what)"}},
    )
    async def put_prices(
        project: int = Project,
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
        return await run_in_threadpool(_write, project, prices)

    return router
