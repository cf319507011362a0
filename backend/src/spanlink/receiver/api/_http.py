"""Small helpers the routers share: 503 answers, query-parameter checks, pages, times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import HTTPException, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from starlette.requests import HTTPConnection

from spanlink.receiver.api._errors import error_response
from spanlink.receiver.api.auth import in_project
from spanlink.receiver.settings import Settings
from spanlink.tracer.support import INT64_MAX

__all__ = [
    "ID_PATTERN",
    "FastJSONResponse",
    "Offset",
    "RunId",
    "check_no_nul",
    "or_404",
    "page",
    "page_in_project",
    "reject_unknown_query",
    "retry_later",
    "unix_ns",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")

#: A run or result id: a uuid, with or without dashes, in either case.
ID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"
#: A run id in a route's path.
RunId = Annotated[str, Path(pattern=ID_PATTERN)]
#: ``offset`` of a list route: the first item of the page.
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def retry_later(settings: Settings, message: str) -> JSONResponse:
    """A 503 ``{"code", "message"}`` answer with ``Retry-After``."""
    return error_response(503, message, {"Retry-After": str(settings.retry_after_seconds)})


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query(connection: HTTPConnection) -> None:
    """422 for a query parameter the GET route does not declare (an app-wide dependency).

    A misspelt or unsupported filter (``?sesion_id=...``) must not silently answer as if
    there were no filter at all: everyone's traces instead of one session's.
    """
    scope = connection.scope
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
        return
    route = scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not getattr(route, "include_in_schema", True):
        return  # the viewer's static assets take no parameters, and ignore them
    known = _query_names(dependant)  # a few parameters: cheaper than any cache
    unknown = sorted({name for name in connection.query_params if name not in known})
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise HTTPException(
            422,
            f"unknown query parameter(s) {', '.join(map(repr, unknown[:10]))}; "
            f"{scope.get('path')} accepts: {accepted}",
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


class FastJSONResponse(JSONResponse):
    """A JSON answer encoded with orjson (several times faster than ``json.dumps``)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:  # e.g. an integer past 64 bits in stored metadata
            return super().render(content)


def page(
    items: Sequence[Any],
    total: int,
    limit: int,
    offset: int,
    *,
    total_is_estimate: bool | None = None,
) -> JSONResponse:
    """One page of a list: ``items``, ``total``, ``limit``, ``offset`` and ``next_offset``
    (and ``total_is_estimate`` when given)."""
    next_offset = offset + len(items) if offset + len(items) < total else None
    body = {
        "items": list(items),
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": next_offset,
    }
    if total_is_estimate is not None:
        body["total_is_estimate"] = total_is_estimate
    return FastJSONResponse(body)


async def page_in_project(
    request: Request,
    project: int,
    limit: int,
    offset: int,
    lister: Callable[[Connection, int, int, int], tuple[Sequence[Any], int]],
) -> JSONResponse:
    """A :func:`page` of ``lister(connection, project, limit, offset)`` (the page's items
    and the total), read in the project's transaction."""
    items, total = await in_project(request, project, lambda db: lister(db, project, limit, offset))
    return page(items, total, limit, offset)


def or_404(found: T | None, what: str) -> T:
    """``found``, or a 404 saying ``what`` is not in the key's project when it is None."""
    if found is None:
        raise HTTPException(404, f"{what} not found in this project")
    return found
