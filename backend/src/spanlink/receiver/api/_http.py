"""Small helpers the routers share: 503 answers, query-parameter checks, pages, times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from spanlink.receiver.settings import Settings
from spanlink.tracer.support import INT64_MAX

__all__ = ["check_no_nul", "page", "retry_later", "unix_ns"]

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
