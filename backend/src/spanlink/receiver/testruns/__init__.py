"""Test runs: endpoint WebSockets, the test-run API and service, and span linking.

``install_testruns(app, settings, engine)`` wires it into the receiver app: the
``WS /ws/endpoints`` route, the ``/api/v1/test-runs`` routes, the ingest commit listener that
links freshly stored spans, and ``app.state.testruns`` (a :class:`TestRunService`, started
and stopped by the app's lifespan). Imports are lazy so that the command line (``test-run``)
starts without loading the server's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from spanlink.receiver.settings import Settings
    from spanlink.receiver.testruns.service import NoEndpoint, RunRequest, TestRunService

__all__ = ["NoEndpoint", "RunRequest", "TestRunService", "install_testruns"]


def install_testruns(app: FastAPI, settings: Settings, engine: Engine) -> TestRunService:
    """Add the test-run routes and service to ``app``; the lifespan must start/stop it."""
    from spanlink.receiver.testruns.routes import router as api_router
    from spanlink.receiver.testruns.service import TestRunService
    from spanlink.receiver.testruns.websocket import router as socket_router

    service = TestRunService(settings, engine)
    app.state.testruns = service
    app.include_router(api_router)
    app.include_router(socket_router)
    app.state.commit_listeners.append(service.on_commit)
    return service


def __getattr__(name: str) -> Any:
    if name in ("NoEndpoint", "RunRequest", "TestRunService"):
        return getattr(importlib.import_module("spanlink.receiver.testruns.service"), name)
    raise AttributeError(f"module 'spanlink.receiver.testruns' has no attribute {name!r}")
