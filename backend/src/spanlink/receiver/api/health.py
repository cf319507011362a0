"""``GET /healthz`` (the process is up) and ``GET /readyz`` (database reachable and current)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from spanlink.receiver.api._errors import error_response
from spanlink.receiver.api.responses import Health
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import DatabaseUnavailable, database_errors, is_current

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "not ready"}},
)
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at this version's migration."""
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    try:
        with database_errors(), engine.connect() as connection:
            current = is_current(connection)
    except DatabaseUnavailable as error:
        return error_response(
            503,
            f"database unreachable: {error}",
            {"Retry-After": str(settings.retry_after_seconds)},
            status="unavailable",
        )
    if not current:
        return error_response(
            503,
            "the database schema is not current: run `spanlink-receiver migrate`",
            status="unavailable",
        )
    return JSONResponse({"status": "ok"})
