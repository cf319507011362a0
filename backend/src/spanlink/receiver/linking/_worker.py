"""The link worker: links the spans of each committed ingest batch, off the ingest path.

``on_commit`` is an ingest commit listener (called from the ingest's worker thread): it only
queues the batch's trace ids, never blocks, and drops the batch when the bounded queue is
full (the orphan sweep links those spans later). The worker merges queued batches and runs
the strategy's ``link_ingested`` in a project-scoped transaction, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from spanlink.receiver.linking._strategies import ReceiverLinkingStrategy
from spanlink.receiver.storage import run_in_project

__all__ = ["LINK_QUEUE_SIZE", "LinkWorker"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: Ingest batches waiting to be linked; beyond it, the orphan sweep catches up.
LINK_QUEUE_SIZE = 10_000
#: Trace ids merged into one round of linking.
_MERGE_TRACES = 5000


class LinkWorker:
    """Links freshly stored spans with ``strategy``; see the module docs."""

    def __init__(self, engine: Engine, strategy: ReceiverLinkingStrategy) -> None:
        self.engine = engine
        self.strategy = strategy
        self._queue: asyncio.Queue[tuple[int, frozenset[str]]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Batches dropped because the queue was full (the sweep links them later).
        self.dropped_batches = 0

    def start(self) -> asyncio.Task[None]:
        """Start working on the running event loop; the caller cancels the task to stop."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(LINK_QUEUE_SIZE)
        return asyncio.ensure_future(self._run())

    def on_commit(self, project_id: int, trace_ids: frozenset[str]) -> None:
        """Ingest commit listener: queue the batch's traces for linking (never blocks)."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or not trace_ids:
            return

        def put() -> None:
            try:
                queue.put_nowait((project_id, trace_ids))
            except asyncio.QueueFull:
                self.dropped_batches += 1  # the orphan sweep links these later

        with contextlib.suppress(RuntimeError):  # loop closed: shutting down
            loop.call_soon_threadsafe(put)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            project_id, trace_ids = await queue.get()
            merged: dict[int, set[str]] = {project_id: set(trace_ids)}
            while not queue.empty() and sum(len(t) for t in merged.values()) < _MERGE_TRACES:
                more_project, more = queue.get_nowait()
                merged.setdefault(more_project, set()).update(more)
            for pid, ids in merged.items():
                try:
                    await run_in_project(self.engine, pid, self._linker(pid, ids))
                except Exception as error:  # the sweep retries later
                    logger.warning("spanlink: linking stored spans failed: %s", error)

    def _linker(self, project_id: int, trace_ids: set[str]) -> Callable[[Connection], int]:
        def link(db: Connection) -> int:
            return self.strategy.link_ingested(db, project_id, trace_ids)

        return link
