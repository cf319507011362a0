"""``GET /api/v1/endpoints``: the project's connected ``@endpoint`` clients, on every receiver."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, text

from spanlink.receiver.api.auth import Project, in_project

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["test runs"])


def _endpoints(db: Connection) -> list[dict[str, Any]]:
    rows = db.execute(
        text(
            "SELECT id, environment, functions, instance_id, sdk, sdk_version, connected_at, "
            "metadata FROM endpoint_connections "
            "WHERE last_seen > now() - interval '30 seconds' ORDER BY connected_at"
        )
    )
    return [
        {
            "connection_id": row[0],
            "environment": row[1],
            "functions": row[2],
            "instance_id": row[3],
            "sdk": row[4],
            "sdk_version": row[5],
            "connected_at": row[6].isoformat(),
            "specs": (row[7] or {}).get("specs", []),
        }
        for row in rows
    ]


@router.get("/endpoints")
async def list_endpoints(request: Request, project: Project) -> JSONResponse:
    """Endpoint connections of the project, on every receiver."""
    return JSONResponse({"items": await in_project(request, project, _endpoints)})
