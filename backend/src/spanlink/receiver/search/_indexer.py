"""The search indexer: drains ``span_search_queue`` into ``span_search``, one batch at a time.

Each queued batch (at most 512 spans) is indexed in its own transaction with a deadline
(``search_index_deadline_s``, server- and client-side). Should the database refuse the
batch (or the deadline cut it), it is indexed again span by span, each under a savepoint:
a span that still fails gets a ``span_search`` row with no vector and the error, is logged
and skipped, so one bad span never holds up the others. When the database is unreachable,
the batch stays queued (the transaction rolled back) and is tried again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, text
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import (
    DatabaseUnavailable,
    database_deadline,
    database_errors,
)
from spanlink.receiver.storage._search import (
    QueuedBatch,
    claim_batch,
    finish_batch,
    index_batch,
    record_failure,
    retry_later,
)

__all__ = ["IndexedBatch", "SearchIndexer"]

logger = logging.getLogger("spanlink.receiver.search")

#: How long a batch whose transaction failed waits before it is tried again.
_RETRY_DELAY_S = 5.0
#: Failed transactions after which a batch's spans are recorded as not indexable.
_MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class IndexedBatch:
    """What one indexer transaction did with one queued batch."""

    batch_id: int
    project_id: int
    indexed: int
    #: Span ids recorded as not indexable (no vector; the error is in ``span_search``).
    failed: tuple[str, ...] = ()


class SearchIndexer:
    """Fills ``span_search`` from the queue, in this process, until stopped."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def on_commit(self, _project_id: int, _trace_ids: Any) -> None:
        """Commit listener (on the event loop): a batch was queued, index it now."""
        self._wake.set()

    async def start(self) -> None:
        """Start ``search_index_workers`` indexing tasks (the app's lifespan)."""
        if self._tasks or not self.settings.search_indexer:
            return
        self._tasks = [
            asyncio.create_task(self._run(), name=f"spanlink-search-indexer-{number}")
            for number in range(self.settings.search_index_workers)
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop indexing; a batch being indexed rolls back and stays queued."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _run(self) -> None:
        interval = self.settings.search_index_interval_s
        while True:
            self._wake.clear()  # before looking: a commit from now on wakes this task
            try:
                done = await run_in_threadpool(self.index_once)
            except Exception as error:  # the database is down: retry after the interval
                logger.warning("spanlink: search indexing failed, retrying: %s", error)
                done = None
            if done is None:  # the queue is empty (or the database down): wait for work
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)

    def drain(self) -> list[IndexedBatch]:
        """Index every batch queued now (tests, benchmarks); what was done, in order."""
        done: list[IndexedBatch] = []
        while (batch := self.index_once()) is not None:
            done.append(batch)
        return done

    def index_once(self) -> IndexedBatch | None:
        """Claim and index the oldest unclaimed batch; None when there is none.

        Raises ``DatabaseUnavailable`` when the database cannot be reached or lost the
        transaction; the batch stays queued, marked to wait ``_RETRY_DELAY_S`` when the
        database still answers.
        """
        claimed: list[QueuedBatch] = []
        try:
            return self._index_once(claimed)
        except DatabaseUnavailable as error:
            if claimed:
                self._retry_later(claimed[0], str(error))
            raise

    def _index_once(self, claimed: list[QueuedBatch]) -> IndexedBatch | None:
        deadline = self.settings.search_index_deadline_s
        # A batch gets ``deadline`` for its statement, and its span-by-span pass after a
        # failure about as much again; past twice that, the transaction is cut (retried).
        with database_deadline(deadline * 2), database_errors(), self.engine.begin() as db:
            _statement_timeout(db, deadline)
            batch = claim_batch(db)
            if batch is None:
                return None
            claimed.append(batch)
            if batch.attempts >= _MAX_ATTEMPTS:
                return self._give_up(db, batch)
            try:
                with db.begin_nested():
                    indexed = index_batch(db, batch, batch.trace_ids, batch.span_ids)
            except sqlalchemy.exc.DBAPIError as error:
                if not _is_span_fault(error):
                    raise
                return self._span_by_span(db, batch, _first_line(error))
            finish_batch(db, batch)
        return IndexedBatch(batch.id, batch.project_id, indexed)

    def _retry_later(self, batch: QueuedBatch, reason: str) -> None:
        with contextlib.suppress(DatabaseUnavailable), database_deadline(5.0):
            with database_errors(), self.engine.begin() as db:
                retry_later(db, batch, reason[:1000], _RETRY_DELAY_S)

    def _give_up(self, db: Connection, batch: QueuedBatch) -> IndexedBatch:
        reason = f"gave up after {batch.attempts} attempts: {batch.last_error}"
        logger.error(
            "spanlink: search batch %s of project %s (%d spans) %s; its spans are not "
            "searchable (recorded in span_search.error)",
            batch.id,
            batch.project_id,
            len(batch.span_ids),
            reason,
        )
        for trace_id, span_id in zip(batch.trace_ids, batch.span_ids, strict=True):
            record_failure(db, batch, trace_id, span_id, reason[:1000])
        finish_batch(db, batch)
        return IndexedBatch(batch.id, batch.project_id, 0, tuple(batch.span_ids))

    def _span_by_span(self, db: Connection, batch: QueuedBatch, reason: str) -> IndexedBatch:
        logger.warning(
            "spanlink: search batch %s of project %s failed (%s); indexing it span by span",
            batch.id,
            batch.project_id,
            reason,
        )
        indexed = 0
        failed: list[str] = []
        for trace_id, span_id in zip(batch.trace_ids, batch.span_ids, strict=True):
            try:
                with db.begin_nested():
                    indexed += index_batch(db, batch, [trace_id], [span_id])
            except sqlalchemy.exc.DBAPIError as error:
                if not _is_span_fault(error):
                    raise  # the database went away: the whole batch is tried again
                message = _first_line(error)
                failed.append(span_id)
                record_failure(db, batch, trace_id, span_id, message[:1000])
                logger.warning(
                    "spanlink: span %s of trace %s (project %s) cannot be indexed for "
                    "search and is skipped (recorded in span_search.error): %s",
                    span_id,
                    trace_id,
                    batch.project_id,
                    message,
                )
        finish_batch(db, batch)
        return IndexedBatch(batch.id, batch.project_id, indexed, tuple(failed))


def _statement_timeout(db: Connection, seconds: float) -> None:
    db.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"),
        {"ms": str(max(1, int(seconds * 1000)))},
    )


#: SQLSTATE classes that are about the database or the connection, not the spans indexed.
_NOT_THE_SPANS = frozenset({"08", "40", "53", "55", "57", "58"})


def _is_span_fault(error: sqlalchemy.exc.DBAPIError) -> bool:
    """The database refused these spans' vectors (or the deadline cut their statement)."""
    if error.connection_invalidated:
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is None:
        return False
    return sqlstate == "57014" or sqlstate[:2] not in _NOT_THE_SPANS  # 57014: timeout


def _first_line(error: sqlalchemy.exc.DBAPIError) -> str:
    message = str(error.orig if error.orig is not None else error)
    return message.splitlines()[0] if message else type(error).__name__
