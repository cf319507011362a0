"""Test runs: endpoint WebSockets, the run service, and span linking.

``TestRunService`` (``app.state.testruns``, started and stopped by the app's lifespan) runs
cases on connected endpoints and links freshly stored spans (its ``on_commit`` is an ingest
commit listener); ``websocket`` serves ``WS /ws/endpoints``. The HTTP API of runs is
``spanlink.receiver.api.test_runs``. Imports are lazy so that the command line
(``test-run``) starts without loading the server's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlink.receiver.testruns.service import NoEndpoint, RunRequest, TestRunService

__all__ = ["NoEndpoint", "RunRequest", "TestRunService"]


def __getattr__(name: str) -> Any:
    if name in ("NoEndpoint", "RunRequest", "TestRunService"):
        return getattr(importlib.import_module("spanlink.receiver.testruns.service"), name)
    raise AttributeError(f"module 'spanlink.receiver.testruns' has no attribute {name!r}")
