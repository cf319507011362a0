"""The API key of a request, resolved to its project: the one authentication path.

HTTP routes take :data:`Project` (a FastAPI dependency: 401 when the key is missing or
unknown); the endpoint WebSocket calls :func:`authenticate` with the handshake's key. Both
resolve keys through ``app.state.key_resolver`` (a cached ``KeyResolver``). Work on the
project's data then runs in :func:`project_transaction` (in a worker thread:
:func:`in_project`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from spanlink.receiver.storage import (
    KeyResolver,
    database_deadline,
    database_errors,
    project_transaction,
    run_in_project,
)

__all__ = [
    "MISSING_KEY",
    "Project",
    "authenticate",
    "bearer_key",
    "in_project",
    "project_transaction",
    "require_project",
]

#: The 401 message when no key was sent.
MISSING_KEY = (
    "missing API key: send `Authorization: Bearer <key>` "
    "(create one with `spanlink-receiver keys create --project NAME`)"
)
UNKNOWN_KEY = "unknown or revoked API key"

T = TypeVar("T")

# Declares the scheme in the OpenAPI document; the key itself is read by ``bearer_key``.
_scheme = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer slk_...`")


def bearer_key(connection: HTTPConnection) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None when there is none."""
    scheme, _, key = connection.headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def authenticate(connection: HTTPConnection, missing: str = MISSING_KEY) -> int:
    """The project id of the connection's API key.

    Raises ``HTTPException(401)`` (``missing`` when no key was sent) and
    ``DatabaseUnavailable`` when the key cannot be looked up.
    """
    key = bearer_key(connection)
    if key is None:
        raise HTTPException(401, missing, headers={"WWW-Authenticate": "Bearer"})
    resolver: KeyResolver = connection.app.state.key_resolver

    deadline = connection.app.state.settings.database_deadline_s

    def resolve() -> int | None:
        with database_deadline(deadline), database_errors():
            return resolver.resolve(key)

    # A cached key is answered here: the worker thread is only for a database look-up.
    hit, found = resolver.cached(key)
    if not hit:
        found = await run_in_threadpool(resolve)
    if found is None:
        raise HTTPException(401, UNKNOWN_KEY, headers={"WWW-Authenticate": "Bearer"})
    return found


async def require_project(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)],
) -> int:
    """The project of the presented API key (401 when missing or unknown)."""
    del credentials  # only declares the scheme; ``authenticate`` reads the header
    return await authenticate(request)


#: The project id of the request's API key.
Project = Annotated[int, Depends(require_project)]


async def in_project(request: Request, project: int, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a :func:`project_transaction` of the app's database, in a worker
    thread (the event loop never waits on the database)."""
    return await run_in_project(request.app.state.engine, project, work)
