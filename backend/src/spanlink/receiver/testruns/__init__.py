"""Test runs: endpoint WebSockets, the run service, the run store.

``TestRunService`` (``app.state.testruns``, started and stopped by the app's lifespan) runs
cases on connected endpoints and has freshly stored spans linked (its ``on_commit`` is an
ingest commit listener; the linking itself is :mod:`spanlink.receiver.linking`);
``websocket`` serves ``WS /ws/endpoints``; ``store`` and ``reported`` are the tables' SQL.
The HTTP API of runs is ``spanlink.receiver.api.test_runs``. Imports are lazy so that the
command line (``test-run``) starts without loading the server's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlink.receiver.testruns._runs import NoEndpoint, RunRequest
    from spanlink.receiver.testruns.service import TestRunService

__all__ = ["NoEndpoint", "RunRequest", "TestRunService"]


def __getattr__(name: str) -> Any:
    if name in ("NoEndpoint", "RunRequest"):
        return getattr(importlib.import_module("spanlink.receiver.testruns._runs"), name)
    if name == "TestRunService":
        return getattr(importlib.import_module("spanlink.receiver.testruns.service"), name)
    raise AttributeError(f"module 'spanlink.receiver.testruns' has no attribute {name!r}")
