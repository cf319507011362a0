"""Small helpers the routers share: 503 answers, query-parameter checks, pages, times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from spanlink.receiver.settings import Settings
from spanlink.tracer.support import INT64_MAX

__all__ = ["check_no_nul", "json_safe", "page", "retry_later", "unix_ns", "validation_failed"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def retry_later(settings: Settings, message: str) -> JSONResponse:
    """A 503 ``{"code", "message"}`` answer with ``Retry-After``."""
    return JSONResponse(
        {"code": 503, "message": message},
        status_code=503,
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


def unix_ns(value: datetime | None) -> int | None:
    """A query-parameter time as unix nanoseconds (naive means UTC), saturated to int64."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = (value - _EPOCH) / timedelta(microseconds=1)
    return max(-INT64_MAX, min(INT64_MAX, int(seconds) * 1000))


def check_no_nul(**values: str | None) -> None:
    """400 when a text query parameter holds a NUL character (Postgres text cannot)."""
    for name, value in values.items():
        if value is not None and "\x00" in value:
            raise HTTPException(400, f"query parameter {name!r} must not contain NUL characters")


def page(items: Sequence[Any], total: int, limit: int, offset: int) -> JSONResponse:
    """One page of a list: ``items``, ``total``, ``limit``, ``offset`` and ``next_offset``."""
    next_offset = offset + len(items) if offset + len(items) < total else None
    return JSONResponse(
        {
            "items": list(items),
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": next_offset,
        }
    )


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinite floats as strings (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


async def validation_failed(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 answer, also when the refused input holds NaN or Infinity (the default
    handler would fail to encode it and answer 500)."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": json_safe(jsonable_encoder(error.errors()))}, status_code=422)
