"""The orphan sweep: periodically links spans left unlinked past the grace period.

Spans can arrive before their result, or be dropped from the link worker's full queue; the
sweep links them with the strategy's ``sweep``. In the same pass it runs the housekeeping
jobs the test runs hand it (closing runs and cases whose receiver or reporter went away),
in the same project-scoped transaction, so that one periodic task serves both and a pass
costs one transaction per project (a receiver may hold thousands of projects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, text
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.linking._strategies import ReceiverLinkingStrategy
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import database_errors, run_in_project

__all__ = ["OrphanSweep"]

logger = logging.getLogger("spanlink.receiver.testruns")


class OrphanSweep:
    """Every ``settings.linking_sweep_interval_s``: link orphans, then run ``housekeeping``.

    ``housekeeping`` are functions of a project-scoped connection, run per project after
    its orphans are linked.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        strategy: ReceiverLinkingStrategy,
        housekeeping: Sequence[Callable[[Connection], Any]] = (),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.strategy = strategy
        self.housekeeping = tuple(housekeeping)

    async def sweep_once(self) -> int:
        """Link orphans (run and case ids but no result) of every project; returns spans."""

        def project_ids() -> list[int]:
            with database_errors(), self.engine.begin() as db:
                return [int(row[0]) for row in db.execute(text("SELECT id FROM projects"))]

        linked = 0
        grace = self.settings.linking_grace_s
        for project_id in await run_in_threadpool(project_ids):
            linked += await run_in_project(
                self.engine, project_id, self._sweeper(project_id, grace)
            )
        return linked

    def _sweeper(self, project_id: int, grace: float) -> Callable[[Connection], int]:
        def sweep(db: Connection) -> int:
            linked = self.strategy.sweep(db, project_id, grace)
            for job in self.housekeeping:
                job(db)
            return linked

        return sweep

    async def run(self) -> None:
        """Sweep forever (the caller cancels the task to stop); a failed sweep is logged."""
        while True:
            await asyncio.sleep(self.settings.linking_sweep_interval_s)
            try:
                linked = await self.sweep_once()
                if linked:
                    logger.info("spanlink: orphan sweep linked %d span(s)", linked)
            except Exception as error:
                logger.warning("spanlink: orphan sweep failed: %s", error)
