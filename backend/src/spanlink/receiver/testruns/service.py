"""The test-run service: runs cases against connected endpoints, stores results, links spans.

One ``TestRunService`` lives in each receiver (``app.state.testruns``); it wires the parts,
each in its own module, and is what the WebSocket and the API call:

- ``registry`` (this receiver's connections) and ``_connections`` (everyone's, in
  ``endpoint_connections``; choosing the connection for a case);
- ``_runs``: executing a run's cases within their deadlines, cancelling;
- ``_dispatch``: invocations routed to and from other receivers over ``LISTEN``/``NOTIFY``
  (``bus``);
- ``_results`` and ``_streaming``: storing results and streamed partial outputs;
- ``_heartbeat``: keeping this receiver's rows and runs marked alive;
- :mod:`spanlink.receiver.linking`: the link worker (an ingest commit listener) and the
  orphan sweep, which also closes what a receiver or reporter left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from spanlink.protocol import Chunk, Result
from spanlink.receiver import linking
from spanlink.receiver._deprecated import moved
from spanlink.receiver.evaluation import EvaluationService
from spanlink.receiver.redaction import RulesCache
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import reported, store
from spanlink.receiver.testruns._connections import ConnectionRows
from spanlink.receiver.testruns._dispatch import Dispatch
from spanlink.receiver.testruns._heartbeat import Heartbeats
from spanlink.receiver.testruns._results import Results
from spanlink.receiver.testruns._runs import NoEndpoint, RunRequest, Runs
from spanlink.receiver.testruns._streaming import record_chunk
from spanlink.receiver.testruns.bus import NotificationBus
from spanlink.receiver.testruns.registry import EndpointConnection, EndpointRegistry

__all__ = ["NoEndpoint", "RunRequest", "TestRunService"]

# Moved with the linking package; served from here, with a warning, for one release.
__getattr__ = moved(__name__, "spanlink.receiver.linking", ("load_strategy",))

logger = logging.getLogger("spanlink.receiver.testruns")


class TestRunService:
    """Endpoints, runs and linking for one receiver process; see the module docs."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        redaction: RulesCache | None = None,
        evaluation: EvaluationService | None = None,
    ) -> None:
        if not settings.database_url:
            raise ValueError("Settings.database_url is not set")
        self.settings = settings
        self.engine = engine
        self.redaction = redaction
        self.receiver_id = uuid.uuid4().hex
        self.registry = EndpointRegistry()
        self.strategy = linking.load_strategy(settings.linking_strategy or linking.DEFAULT_STRATEGY)
        self.rows = ConnectionRows(engine, self.receiver_id, self.registry)
        self.results = Results(engine, self.receiver_id, self.strategy, redaction, evaluation)
        self.dispatch = Dispatch(
            engine, self.receiver_id, self.registry, self.results.wake, self._on_cancel_run
        )
        self.runs = Runs(
            engine,
            self.receiver_id,
            self.registry,
            self.rows,
            self.results,
            self.dispatch,
            self.strategy,
        )
        self.heartbeats = Heartbeats(engine, self.receiver_id, self.runs, self.rows)
        self.link_worker = linking.LinkWorker(engine, self.strategy)
        self.sweep = linking.OrphanSweep(
            settings,
            engine,
            self.strategy,
            # Cases and runs left open by a receiver that went away are closed here, and
            # client-reported runs whose reporter went silent (a killed pytest session).
            housekeeping=(
                store.close_abandoned,
                reported.finish_vanished,
                # Cases whose judging receiver went away before their verdict.
                *((evaluation.close_stale,) if evaluation is not None else ()),
            ),
        )
        self.bus = NotificationBus(settings.database_url, self.dispatch.on_notification)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def dropped_link_batches(self) -> int:
        """Ingest batches the link worker dropped (its queue was full); the sweep links them."""
        return self.link_worker.dropped_batches

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the notification listener, the link worker and the periodic tasks."""
        self._loop = asyncio.get_running_loop()
        self.bus.start()
        self._tasks = [
            self.link_worker.start(),
            asyncio.ensure_future(self.sweep.run()),
            asyncio.ensure_future(self.heartbeats.run()),
        ]
        if not await self.bus.wait_listening(5.0):
            logger.warning(
                "spanlink: not yet listening for other receivers' notifications; test runs "
                "through other receivers reach this one once the database answers"
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop runs and background tasks; forget this receiver's connection rows."""
        active = self.runs.active
        owned = {run_id: state.project_id for run_id, state in active.items()}
        for state in list(active.values()):
            state.cancelled.set()
            if state.task is not None:
                state.task.cancel()
        for task in self._tasks:
            task.cancel()
        pending = [s.task for s in active.values() if s.task] + self._tasks
        if pending:
            await asyncio.wait(pending, timeout=timeout / 2)
        # Tell the other receivers at once that nobody executes these runs any more: their
        # next sweep fails the cases not started yet, so the runs finish.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.heartbeats.release(owned), timeout / 4)
        await self.bus.stop(timeout / 4)
        projects = {c.project_id for c in self.registry}
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run_in_threadpool(self.rows.forget_all, projects), timeout / 4)

    # ------------------------------------------------------------------ endpoint connections

    async def connection_registered(self, connection: EndpointConnection) -> None:
        """A WebSocket registered: keep it here and announce it to the other receivers."""
        self.registry.add(connection)
        await self.rows.record(connection)

    async def connection_closed(self, connection: EndpointConnection, reason: str) -> None:
        """A WebSocket closed: fail its invocations with the reason, forget it."""
        self.registry.remove(connection)
        await self.results.disconnected(connection, reason)
        with contextlib.suppress(Exception):
            await self.rows.delete(connection.project_id, connection.id)

    async def result_received(self, connection: EndpointConnection, message: Result) -> bool:
        """The endpoint answered an invocation; False when it was not in flight here."""
        return await self.results.received(connection, message)

    async def chunk_received(self, connection: EndpointConnection, message: Chunk) -> bool:
        """A generator's chunk for an invocation in flight here; False when there is none.

        The streamed-so-far output is written to the running result (within the caps of
        ``_streaming``), so that any receiver shows it; the final ``result`` replaces it.
        """
        return await record_chunk(self.engine, self.results.rules, connection, message)

    async def invocation_failed(
        self, connection: EndpointConnection, invocation_id: str, reason: str
    ) -> bool:
        """The endpoint could not handle an invoke (an ``error`` naming it)."""
        return await self.results.failed(connection, invocation_id, reason)

    async def describe_missing(
        self, project_id: int, environment: str | None, function: str
    ) -> str:
        """Why no endpoint was found, and what to do."""
        return await self.rows.describe_missing(project_id, environment, function)

    # ------------------------------------------------------------------ runs

    async def start_run(self, project_id: int, request: RunRequest) -> dict[str, Any]:
        """Create the run (result ids allocated now) and start executing it.

        Raises :class:`NoEndpoint` when no endpoint offers the function right now.
        """
        return await self.runs.start_run(project_id, request)

    async def cancel_run(self, project_id: int, run_id: str, reason: str) -> str | None:
        """Cancel a run on whichever receiver executes it; returns its status (None: unknown)."""
        return await self.runs.cancel_run(project_id, run_id, reason)

    async def _on_cancel_run(self, project_id: int, run_id: str, reason: str) -> None:
        # Dispatch is built before the runs it routes cancels to.
        await self.runs.on_cancel_run(project_id, run_id, reason)

    # ------------------------------------------------------------------ linking

    def on_commit(self, project_id: int, trace_ids: frozenset[str]) -> None:
        """Ingest commit listener: queue the batch's traces for linking (never blocks)."""
        self.link_worker.on_commit(project_id, trace_ids)

    async def sweep_once(self) -> int:
        """Link orphans (run and case ids but no result) of every project; returns spans.

        Also closes what receivers and reporters that went away left open.
        """
        return await self.sweep.sweep_once()
