"""Heartbeats: this receiver keeps its connection rows and the runs it executes marked alive.

Every ``CONNECTION_REFRESH_S`` the runs executed here get a fresh ``executor_seen`` and the
connection rows a fresh ``last_seen``; on shutdown the runs are released at once, so that
the next sweep of any receiver fails their cases not started yet and the runs finish.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from spanlink.receiver.storage import run_in_project
from spanlink.receiver.testruns import store
from spanlink.receiver.testruns._connections import ConnectionRows
from spanlink.receiver.testruns._runs import Runs

__all__ = ["CONNECTION_REFRESH_S", "Heartbeats"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: How often a receiver refreshes its connection rows.
CONNECTION_REFRESH_S = 10.0


@dataclass(eq=False)
class Heartbeats:
    """The periodic refresh of ``runs`` and ``rows`` by ``receiver_id``."""

    engine: Engine
    receiver_id: str
    runs: Runs
    rows: ConnectionRows

    async def run(self) -> None:
        """Refresh forever (the caller cancels the task to stop)."""
        while True:
            await asyncio.sleep(CONNECTION_REFRESH_S)
            await self.refresh_runs()
            await self.rows.refresh()

    async def refresh_runs(self) -> None:
        """Keep the runs this receiver executes marked as having a live executor."""
        for project_id, run_ids in self.runs.by_project().items():
            try:
                await run_in_project(
                    self.engine,
                    project_id,
                    partial(store.heartbeat_runs, run_ids=run_ids, receiver_id=self.receiver_id),
                )
            except Exception as error:
                logger.warning("spanlink: refreshing executed test runs failed: %s", error)

    async def release(self, owned: dict[str, int]) -> None:
        """Mark the runs ``owned`` (run id -> project id) as no longer executed here."""
        by_project: dict[int, list[str]] = {}
        for run_id, project_id in owned.items():
            by_project.setdefault(project_id, []).append(run_id)
        for project_id, run_ids in by_project.items():
            await run_in_project(
                self.engine,
                project_id,
                partial(
                    store.heartbeat_runs, run_ids=run_ids, receiver_id=self.receiver_id, alive=False
                ),
            )
