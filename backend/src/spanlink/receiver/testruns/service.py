"""The test-run service: runs cases against connected endpoints, stores results, links spans.

One ``TestRunService`` lives in each receiver (``app.state.testruns``). A run is executed by
the receiver that accepted ``POST /api/v1/test-runs``: for each case it picks an endpoint
connection offering the function — on this receiver, else on another one found in the
``endpoint_connections`` table — and invokes it directly or through a ``LISTEN``/``NOTIFY``
message to the receiver holding the connection. The receiver that gets the ``result``
stores it, links the spans (the configured strategy) and tells the waiting receiver.

Every wait has a deadline: a case that gets no answer within its timeout (plus a margin) is
stored as ``timeout`` and cancelled at the endpoint; a disconnect fails the invocations of
that connection at once; a cancelled run closes its pending cases at once and its running
ones when the endpoint confirms, or after a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from starlette.concurrency import run_in_threadpool

from spanlink.protocol import Cancel, Chunk, Invoke, Result
from spanlink.receiver import hookspecs
from spanlink.receiver.redaction import (
    EMPTY_RULES,
    CompiledRules,
    RedactionBudget,
    RulesCache,
    redact_value,
)
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import database_errors, project_scope, project_transaction
from spanlink.receiver.testruns import reported, store
from spanlink.receiver.testruns._redact import redact_cases, redact_finished, redact_partial
from spanlink.receiver.testruns.bus import NotificationBus, notify
from spanlink.receiver.testruns.linking import (
    DEFAULT_STRATEGY,
    ReceiverLinkingStrategy,
    ResultLink,
)
from spanlink.receiver.testruns.registry import (
    EndpointConnection,
    EndpointRegistry,
    Inflight,
    SendFailed,
)
from spanlink.tracer.plugins import get_plugin_manager, load_plugins

__all__ = [
    "NoEndpoint",
    "RunRequest",
    "TestRunService",
    "load_strategy",
]

logger = logging.getLogger("spanlink.receiver.testruns")

T = TypeVar("T")

#: Added to a case's timeout before the receiver gives up on the endpoint's answer.
RESULT_MARGIN_S = 5.0
#: After a cancel, how long running cases wait for the endpoint to confirm.
CANCEL_GRACE_S = 3.0
#: A connection row not refreshed for this long belongs to a receiver that is gone.
CONNECTION_FRESH_S = 30
#: How often a receiver refreshes its connection rows.
CONNECTION_REFRESH_S = 10.0
#: Connections tried for one case before it fails (each found gone before taking it).
DISPATCH_ATTEMPTS = 3
#: How long the receiver holding a connection has to acknowledge a routed invoke.
ACK_TIMEOUT_S = 2.0
#: How long a case waits for an endpoint offering its function to (re)connect.
ENDPOINT_WAIT_S = 5.0
#: Ingest batches waiting to be linked; beyond it, the orphan sweep catches up.
LINK_QUEUE_SIZE = 10_000
#: Streamed chunks kept per invocation (and shown as its partial output); more are counted.
MAX_STREAM_CHUNKS = 1000
#: Bytes of chunk data (JSON) kept per invocation; more chunks are counted only.
MAX_STREAM_BYTES = 64 * 1024
#: Past the caps, the stored chunk count is refreshed every this many chunks.
STREAM_COUNT_EVERY = 50


class NoEndpoint(LookupError):
    """No connected endpoint of the project and environment offers the function."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A validated ``POST /api/v1/test-runs`` body."""

    function: str
    cases: Sequence[store.CaseInput]
    environment: str | None = None
    configuration_id: str | None = None
    name: str | None = None
    timeout_s: float = 60.0
    concurrency: int = 4
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
    connection_id: str
    receiver_id: str
    local: EndpointConnection | None


@dataclass(eq=False)
class _RunState:
    project_id: int
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def load_strategy(name: str) -> ReceiverLinkingStrategy:
    """The linking strategy called ``name``, from the plugins of group ``spanlink``."""
    manager = get_plugin_manager()
    manager.add_hookspecs(hookspecs)
    manager, _ = load_plugins(manager)
    strategy = manager.hook.spanlink_linking_strategy(config={"name": name})
    if strategy is None:
        raise ValueError(
            f"no installed plugin provides the linking strategy {name!r}; the builtin ones "
            f"are 'hybrid' and 'trace_id' (set SPANLINK_LINKING_STRATEGY)"
        )
    for method in ("link_ingested", "link_result", "sweep"):
        if not callable(getattr(strategy, method, None)):
            raise ValueError(f"linking strategy {name!r} has no {method}() method")
    return strategy  # type: ignore[no-any-return]


class TestRunService:
    """Endpoints, runs and linking for one receiver process; see the module docs."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, settings: Settings, engine: Engine, redaction: RulesCache | None = None
    ) -> None:
        if not settings.database_url:
            raise ValueError("Settings.database_url is not set")
        self.settings = settings
        self.engine = engine
        self.redaction = redaction
        self.receiver_id = uuid.uuid4().hex
        self.registry = EndpointRegistry()
        self.strategy = load_strategy(settings.linking_strategy or DEFAULT_STRATEGY)
        self.bus = NotificationBus(settings.database_url, self._on_notification)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._acks: dict[str, asyncio.Future[bool]] = {}
        self._runs: dict[str, _RunState] = {}
        self._link_queue: asyncio.Queue[tuple[int, frozenset[str]]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped_link_batches = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the notification listener, the link worker and the periodic tasks."""
        self._loop = asyncio.get_running_loop()
        self._link_queue = asyncio.Queue(LINK_QUEUE_SIZE)
        self.bus.start()
        self._tasks = [
            asyncio.ensure_future(self._link_worker()),
            asyncio.ensure_future(self._sweep_loop()),
            asyncio.ensure_future(self._refresh_loop()),
        ]
        if not await self.bus.wait_listening(5.0):
            logger.warning(
                "spanlink: not yet listening for other receivers' notifications; test runs "
                "through other receivers reach this one once the database answers"
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop runs and background tasks; forget this receiver's connection rows."""
        owned = {run_id: state.project_id for run_id, state in self._runs.items()}
        for state in list(self._runs.values()):
            state.cancelled.set()
            if state.task is not None:
                state.task.cancel()
        for task in self._tasks:
            task.cancel()
        pending = [s.task for s in self._runs.values() if s.task] + self._tasks
        if pending:
            await asyncio.wait(pending, timeout=timeout / 2)
        # Tell the other receivers at once that nobody executes these runs any more: their
        # next sweep fails the cases not started yet, so the runs finish.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._release_runs(owned), timeout / 4)
        await self.bus.stop(timeout / 4)
        projects = {c.project_id for c in self.registry}
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                run_in_threadpool(self._forget_connections, projects), timeout / 4
            )

    async def _release_runs(self, owned: dict[str, int]) -> None:
        by_project: dict[int, list[str]] = {}
        for run_id, project_id in owned.items():
            by_project.setdefault(project_id, []).append(run_id)
        for project_id, run_ids in by_project.items():
            await self._in_project(
                project_id,
                partial(
                    store.heartbeat_runs, run_ids=run_ids, receiver_id=self.receiver_id, alive=False
                ),
            )

    def _forget_connections(self, projects: Collection[int]) -> None:
        with database_errors():
            for project_id in projects:
                with self.engine.begin() as connection:
                    project_scope(connection, project_id)
                    connection.execute(
                        text("DELETE FROM endpoint_connections WHERE receiver_id = :r"),
                        {"r": self.receiver_id},
                    )

    # ------------------------------------------------------------------ database helpers

    async def _in_project(self, project_id: int, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction scoped to the project, in a worker thread."""

        def run() -> T:
            with project_transaction(self.engine, project_id) as connection:
                return work(connection)

        return await run_in_threadpool(run)

    # ------------------------------------------------------------------ endpoint connections

    async def connection_registered(self, connection: EndpointConnection) -> None:
        """A WebSocket registered: keep it here and announce it to the other receivers."""
        self.registry.add(connection)
        row = {
            "id": connection.id,
            "p": connection.project_id,
            "r": self.receiver_id,
            "env": connection.environment,
            "functions": _json_list(sorted(connection.functions)),
            "instance": connection.instance_id,
            "sdk": connection.sdk,
            "sdk_version": connection.sdk_version,
            "meta": _json_obj(
                {
                    "specs": [spec.to_dict() for spec in connection.functions.values()],
                    "client": connection.metadata,
                }
            ),
        }

        def upsert(db: Connection) -> None:
            db.execute(
                text(
                    "INSERT INTO endpoint_connections (id, project_id, receiver_id, environment, "
                    "functions, instance_id, sdk, sdk_version, metadata) VALUES (:id, :p, :r, "
                    ":env, CAST(:functions AS jsonb), :instance, :sdk, :sdk_version, "
                    "CAST(:meta AS jsonb)) ON CONFLICT (id) DO UPDATE SET "
                    "environment = excluded.environment, functions = excluded.functions, "
                    "metadata = excluded.metadata, last_seen = now()"
                ),
                row,
            )

        try:
            await self._in_project(connection.project_id, upsert)
        except Exception as error:  # the local registry still works; other receivers wait
            logger.warning("spanlink: could not record endpoint connection: %s", error)

    async def connection_closed(self, connection: EndpointConnection, reason: str) -> None:
        """A WebSocket closed: fail its invocations with the reason, forget it."""
        self.registry.remove(connection)
        inflight, connection.inflight = dict(connection.inflight), {}
        for result_id, item in inflight.items():
            await self._store_result(
                item,
                result_id,
                store.FinishedResult(
                    status="error",
                    error=f"EndpointDisconnected: {reason}",
                    metadata={"error_type": "EndpointDisconnected"},
                ),
            )

        def delete(db: Connection) -> None:
            db.execute(
                text("DELETE FROM endpoint_connections WHERE id = :id"), {"id": connection.id}
            )

        with contextlib.suppress(Exception):
            await self._in_project(connection.project_id, delete)

    async def result_received(self, connection: EndpointConnection, message: Result) -> bool:
        """The endpoint answered an invocation; False when it was not in flight here."""
        item = connection.inflight.pop(message.invocation_id, None)
        if item is None:
            return False
        error = message.error
        metadata: dict[str, Any] = {"endpoint_status": message.status}
        if message.span_count is not None:
            metadata["span_count"] = message.span_count
        if message.output_truncated:
            metadata["output_truncated"] = True
        if message.chunk_count is not None or item.chunk_count:
            metadata["chunk_count"] = max(message.chunk_count or 0, item.chunk_count)
        if error is not None:
            metadata["error_type"] = error.type
        await self._store_result(
            item,
            message.invocation_id,
            store.FinishedResult(
                status=message.status,
                output=message.output,
                error=f"{error.type}: {error.message}" if error else None,
                duration_ms=message.duration_ms,
                trace_id=message.trace_id,
                metadata=metadata,
            ),
        )
        return True

    async def chunk_received(self, connection: EndpointConnection, message: Chunk) -> bool:
        """A generator's chunk for an invocation in flight here; False when there is none.

        Chunks are kept in memory within ``MAX_STREAM_CHUNKS``/``MAX_STREAM_BYTES`` and the
        streamed-so-far output is written to the running result, so that any receiver
        shows it; the final ``result`` replaces it.
        """
        item = connection.inflight.get(message.invocation_id)
        if item is None:
            return False
        item.chunk_count += 1
        size = len(_json_obj({"d": message.data}).encode("utf-8", "surrogatepass"))
        if (
            not item.partial_truncated
            and len(item.chunks) < MAX_STREAM_CHUNKS
            and item.chunk_bytes + size <= MAX_STREAM_BYTES
        ):
            item.chunks.append(message.data)
            item.chunk_bytes += size
        elif not item.partial_truncated:
            item.partial_truncated = True
        elif item.chunk_count % STREAM_COUNT_EVERY:
            return True  # only counted; the stored count is refreshed now and then
        snapshot = store.PartialOutput(
            output=_joined(item.chunks),
            chunk_count=item.chunk_count,
            truncated=item.partial_truncated,
        )
        try:
            await self._in_project(
                item.project_id,
                lambda db: store.record_partial(
                    db,
                    message.invocation_id,
                    redact_partial(snapshot, self._rules(item.project_id)),
                ),
            )
        except Exception as error:  # a preview only: the result still carries the output
            logger.warning("spanlink: could not store streamed output: %s", error)
        return True

    async def invocation_failed(
        self, connection: EndpointConnection, invocation_id: str, reason: str
    ) -> bool:
        """The endpoint could not handle an invoke (an ``error`` naming it)."""
        item = connection.inflight.pop(invocation_id, None)
        if item is None:
            return False
        await self._store_result(
            item,
            invocation_id,
            store.FinishedResult(
                status="error", error=reason, metadata={"error_type": "EndpointError"}
            ),
        )
        return True

    def _rules(self, project_id: int) -> CompiledRules:
        """The project's redaction rules (a database read when not cached: a worker thread)."""
        return self.redaction.get(project_id) if self.redaction is not None else EMPTY_RULES

    async def _store_result(
        self, item: Inflight, result_id: str, result: store.FinishedResult
    ) -> None:
        """Close the result (if still open), link its spans, wake the waiting receiver."""
        strategy = self.strategy

        def write(db: Connection) -> None:
            redacted = redact_finished(result, self._rules(item.project_id))
            closed = store.finish_result(db, result_id, redacted)
            if closed is not None:
                run_id, case_id = closed
                strategy.link_result(
                    db, item.project_id, ResultLink(result_id, run_id, case_id, result.trace_id)
                )
            if item.origin != self.receiver_id:
                notify(db, {"op": "done", "target": item.origin, "result_id": result_id})

        try:
            await self._in_project(item.project_id, write)
        except Exception:
            logger.exception("spanlink: storing the result of %s failed", result_id)
        if item.origin == self.receiver_id:
            self._wake(result_id)

    def _wake(self, result_id: str) -> None:
        waiter = self._waiters.get(result_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------------ choosing an endpoint

    def _find_remote(
        self, db: Connection, project_id: int, environment: str | None, function: str
    ) -> tuple[str, str] | None:
        row = db.execute(
            text(
                "SELECT id, receiver_id FROM endpoint_connections WHERE project_id = :p "
                "AND environment IS NOT DISTINCT FROM :env AND receiver_id <> :me "
                "AND functions ? :function "
                f"AND last_seen > now() - interval '{CONNECTION_FRESH_S} seconds' "
                "ORDER BY random() LIMIT 1"
            ),
            {"p": project_id, "env": environment, "me": self.receiver_id, "function": function},
        ).first()
        return (row[0], row[1]) if row else None

    async def _target(
        self, project_id: int, environment: str | None, function: str
    ) -> _Target | None:
        local = self.registry.find(project_id, environment, function)
        if local is not None:
            return _Target(local.id, self.receiver_id, local)
        remote = await self._in_project(
            project_id, lambda db: self._find_remote(db, project_id, environment, function)
        )
        return _Target(remote[0], remote[1], None) if remote else None

    def _available(self, db: Connection, project_id: int, function: str) -> list[str | None]:
        rows = db.execute(
            text(
                "SELECT DISTINCT environment FROM endpoint_connections WHERE project_id = :p "
                "AND functions ? :function "
                f"AND last_seen > now() - interval '{CONNECTION_FRESH_S} seconds'"
            ),
            {"p": project_id, "function": function},
        )
        return [row[0] for row in rows]

    async def describe_missing(
        self, project_id: int, environment: str | None, function: str
    ) -> str:
        """Why no endpoint was found, and what to do."""
        elsewhere = await self._in_project(
            project_id, lambda db: self._available(db, project_id, function)
        )
        where = f"environment {environment!r}" if environment else "no environment"
        message = f"no connected endpoint offers the function {function!r} in {where}"
        if elsewhere:
            names = ", ".join(repr(env) if env else "no environment" for env in elsewhere)
            return f"{message}; it is connected in: {names} (set 'environment')"
        return (
            f"{message}; start the application with spanlink.endpoint.connect(...) and the "
            "project's API key, and decorate the function with @endpoint"
        )

    # ------------------------------------------------------------------ runs

    async def start_run(self, project_id: int, request: RunRequest) -> dict[str, Any]:
        """Create the run (result ids allocated now) and start executing it.

        Raises :class:`NoEndpoint` when no endpoint offers the function right now.
        """
        if await self._target(project_id, request.environment, request.function) is None:
            raise NoEndpoint(
                await self.describe_missing(project_id, request.environment, request.function)
            )
        strategy_name = self.strategy.name
        rules = await run_in_threadpool(self._rules, project_id)
        if not rules.is_empty:
            # Redacted before anything is stored; the cases run with what is stored.
            budget = RedactionBudget()
            request = replace(
                request,
                name=redact_value(request.name, rules, budget=budget),
                cases=redact_cases(request.cases, rules, budget),
                metadata=redact_value(request.metadata, rules, budget=budget),
            )

        def create(db: Connection) -> tuple[str, list[str]]:
            return store.create_run(
                db,
                project_id,
                name=request.name,
                function=request.function,
                environment=request.environment,
                configuration_id=request.configuration_id,
                timeout_s=request.timeout_s,
                concurrency=request.concurrency,
                strategy=strategy_name,
                cases=request.cases,
                metadata=request.metadata,
            )

        def create_and_claim(db: Connection) -> tuple[str, list[str]]:
            run_id, result_ids = create(db)
            # This receiver executes the run; refreshed while it does (see _refresh_loop).
            store.heartbeat_runs(db, [run_id], self.receiver_id)
            return run_id, result_ids

        run_id, result_ids = await self._in_project(project_id, create_and_claim)
        state = _RunState(project_id)
        self._runs[run_id] = state
        state.task = asyncio.ensure_future(self._execute(run_id, state, request, result_ids))
        return {"id": run_id, "status": "running", "result_ids": result_ids}

    async def _execute(
        self, run_id: str, state: _RunState, request: RunRequest, result_ids: list[str]
    ) -> None:
        slots = asyncio.Semaphore(request.concurrency)

        async def one(result_id: str, case: store.CaseInput) -> None:
            async with slots:
                if state.cancelled.is_set():
                    return
                try:
                    await self._run_case(run_id, state, request, result_id, case)
                except Exception:
                    logger.exception(
                        "spanlink: test case %s of run %s failed", case.case_id, run_id
                    )
                    await self._close_local(
                        state.project_id,
                        result_id,
                        "error",
                        "InternalError: the receiver failed to run this case; see its log",
                    )

        try:
            await asyncio.gather(
                *(one(rid, case) for rid, case in zip(result_ids, request.cases, strict=True))
            )
            await self._in_project(state.project_id, lambda db: store.finish_run(db, run_id))
        except Exception:
            logger.exception("spanlink: test run %s failed", run_id)
            with contextlib.suppress(Exception):
                await self._in_project(
                    state.project_id, lambda db: store.finish_run(db, run_id, "failed")
                )
        finally:
            self._runs.pop(run_id, None)

    async def _close_local(self, project_id: int, result_id: str, status: str, error: str) -> None:
        """Close a result from this receiver (deadline, cancel, no endpoint)."""
        item = Inflight(project_id, "", None, self.receiver_id)
        await self._store_result(
            item,
            result_id,
            store.FinishedResult(
                status=status, error=error, metadata={"error_type": error.split(":", 1)[0]}
            ),
        )

    async def _run_case(
        self,
        run_id: str,
        state: _RunState,
        request: RunRequest,
        result_id: str,
        case: store.CaseInput,
    ) -> None:
        project_id = state.project_id
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters[result_id] = waiter
        try:
            target = await self._dispatch(run_id, state, request, result_id, case, waiter)
            if target is None:
                return
            await self._wait(waiter, state, request.timeout_s + RESULT_MARGIN_S)
            if waiter.done():
                return
            if state.cancelled.is_set():
                status, error = "cancelled", "Cancelled: the run was cancelled"
            else:
                status = "timeout"
                error = (
                    f"Timeout: no result from the endpoint within {request.timeout_s:g} s "
                    f"(+{RESULT_MARGIN_S:g} s margin); the invocation was cancelled"
                )
            await self._cancel_invocation(project_id, target, result_id, error)
            await self._close_local(project_id, result_id, status, error)
        finally:
            self._waiters.pop(result_id, None)
            self._acks.pop(result_id, None)

    async def _dispatch(
        self,
        run_id: str,
        state: _RunState,
        request: RunRequest,
        result_id: str,
        case: store.CaseInput,
        waiter: asyncio.Future[None],
    ) -> _Target | None:
        """Send the case's invoke to an endpoint; None when the case was closed instead.

        A connection that turns out to be gone (closed before the send, or its receiver
        does not acknowledge) is skipped and another one is tried, so a case is only failed
        for a connection that took the invocation.
        """
        project_id = state.project_id
        for _attempt in range(DISPATCH_ATTEMPTS):
            target = await self._await_target(state, request)
            if state.cancelled.is_set():
                return None
            if target is None:
                reason = await self.describe_missing(
                    project_id, request.environment, request.function
                )
                await self._close_local(project_id, result_id, "error", f"NoEndpoint: {reason}")
                return None
            started = await self._in_project(
                project_id,
                partial(
                    store.mark_running, result_id=result_id, connection_id=target.connection_id
                ),
            )
            if not started:  # closed meanwhile (cancelled)
                return None
            if target.local is not None:
                invoke = Invoke(
                    invocation_id=result_id,
                    function=request.function,
                    arguments=case.inputs,
                    test_context=dict(
                        run_id=run_id,
                        case_id=case.case_id,
                        result_id=result_id,
                        configuration_id=request.configuration_id,
                    ),
                    timeout_s=request.timeout_s,
                )
                item = Inflight(project_id, run_id, case.case_id, self.receiver_id)
                if await self._send_invoke(target.local, invoke, item):
                    return target
                continue
            if await self._remote_dispatch(project_id, target, result_id, waiter):
                return target
            await self._in_project(
                project_id, partial(_forget_connection, connection_id=target.connection_id)
            )
        await self._close_local(
            project_id,
            result_id,
            "error",
            f"EndpointDisconnected: no endpoint connection took the invocation in "
            f"{DISPATCH_ATTEMPTS} attempts",
        )
        return None

    async def _remote_dispatch(
        self, project_id: int, target: _Target, result_id: str, waiter: asyncio.Future[None]
    ) -> bool:
        """Ask the receiver holding the connection to invoke; True once it acknowledged."""
        ack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks[result_id] = ack
        payload = {
            "op": "invoke",
            "target": target.receiver_id,
            "connection_id": target.connection_id,
            "project_id": project_id,
            "result_id": result_id,
            "origin": self.receiver_id,
        }
        await self._in_project(project_id, lambda db: notify(db, payload))
        waiting: set[asyncio.Future[Any]] = {ack, waiter}
        await asyncio.wait(waiting, timeout=ACK_TIMEOUT_S, return_when="FIRST_COMPLETED")
        self._acks.pop(result_id, None)
        if waiter.done():
            return True
        return ack.done() and ack.result()

    async def _await_target(self, state: _RunState, request: RunRequest) -> _Target | None:
        """An endpoint for the next case, waiting up to ``ENDPOINT_WAIT_S`` for one to
        (re)connect, so that a client reconnecting after a blip doesn't fail the cases."""
        deadline = asyncio.get_running_loop().time() + ENDPOINT_WAIT_S
        while True:
            target = await self._target(state.project_id, request.environment, request.function)
            if target is not None or state.cancelled.is_set():
                return target
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def _wait(self, waiter: asyncio.Future[None], state: _RunState, timeout: float) -> None:
        """Until the result, the deadline, or a cancel plus its grace — whichever is first."""
        cancel: asyncio.Future[Any] = asyncio.ensure_future(state.cancelled.wait())
        waiting: set[asyncio.Future[Any]] = {waiter, cancel}
        try:
            await asyncio.wait(waiting, timeout=timeout, return_when="FIRST_COMPLETED")
            if not waiter.done() and cancel.done():
                await asyncio.wait({waiter}, timeout=CANCEL_GRACE_S)
        finally:
            cancel.cancel()

    async def _send_invoke(
        self, connection: EndpointConnection, invoke: Invoke, item: Inflight
    ) -> bool:
        """Send an invoke; False (nothing in flight) when the connection is gone."""
        connection.inflight[invoke.invocation_id] = item
        try:
            await connection.send(invoke)
        except SendFailed as error:
            connection.inflight.pop(invoke.invocation_id, None)
            logger.info("spanlink: %s; trying another connection", error)
            return False
        return True

    async def _cancel_invocation(
        self, project_id: int, target: _Target, result_id: str, reason: str
    ) -> None:
        if target.local is not None:
            if target.local.inflight.pop(result_id, None) is not None:
                with contextlib.suppress(SendFailed):
                    await target.local.send(Cancel(invocation_id=result_id, reason=reason))
            return
        payload = {
            "op": "cancel_invocation",
            "target": target.receiver_id,
            "connection_id": target.connection_id,
            "result_id": result_id,
            "reason": reason,
        }
        with contextlib.suppress(Exception):
            await self._in_project(project_id, lambda db: notify(db, payload))

    async def cancel_run(self, project_id: int, run_id: str, reason: str) -> str | None:
        """Cancel a run on whichever receiver executes it; returns its status (None: unknown)."""
        payload = {
            "op": "cancel_run",
            "project_id": project_id,
            "run_id": run_id,
            "origin": self.receiver_id,  # handled here directly, not again on delivery
        }

        def cancel(db: Connection) -> str | None:
            status = store.cancel_run(db, run_id, reason)
            if status == "cancelled":
                notify(db, {**payload, "reason": reason})
            return status

        status = await self._in_project(project_id, cancel)
        if status == "cancelled":
            await self._on_cancel_run(project_id, run_id, reason)
        return status

    async def _on_cancel_run(self, project_id: int, run_id: str, reason: str) -> None:
        state = self._runs.get(run_id)
        if state is not None and state.project_id == project_id:
            state.cancelled.set()
        for connection in self.registry:
            if connection.project_id != project_id:
                continue
            for invocation_id, item in list(connection.inflight.items()):
                if item.run_id == run_id:
                    with contextlib.suppress(SendFailed):
                        await connection.send(Cancel(invocation_id=invocation_id, reason=reason))

    # ------------------------------------------------------------------ other receivers

    async def _on_notification(self, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        if op == "cancel_run":
            if payload.get("origin") == self.receiver_id:
                return
            project_id, run_id = payload.get("project_id"), payload.get("run_id")
            if isinstance(project_id, int) and isinstance(run_id, str):
                await self._on_cancel_run(project_id, run_id, str(payload.get("reason") or ""))
            return
        if payload.get("target") != self.receiver_id:
            return
        result_id = payload.get("result_id")
        if not isinstance(result_id, str):
            return
        if op == "done":
            self._wake(result_id)
        elif op in ("ack", "nack"):
            ack = self._acks.get(result_id)
            if ack is not None and not ack.done():
                ack.set_result(op == "ack")
        elif op == "invoke":
            await self._remote_invoke(payload, result_id)
        elif op == "cancel_invocation":
            connection = self.registry.get(str(payload.get("connection_id")))
            if connection is not None and connection.inflight.pop(result_id, None) is not None:
                with contextlib.suppress(SendFailed):
                    await connection.send(
                        Cancel(invocation_id=result_id, reason=str(payload.get("reason") or ""))
                    )

    async def _remote_invoke(self, payload: dict[str, Any], result_id: str) -> None:
        project_id = payload.get("project_id")
        origin = payload.get("origin")
        connection_id = str(payload.get("connection_id"))
        if not isinstance(project_id, int) or not isinstance(origin, str):
            return
        reply = {"target": origin, "result_id": result_id}
        connection = self.registry.get(connection_id)
        if connection is None or connection.project_id != project_id:
            # Gone: the origin tries another connection (and forgets this one).
            await self._in_project(project_id, lambda db: notify(db, {**reply, "op": "nack"}))
            return
        found = await self._in_project(
            project_id, lambda db: store.invocation_target(db, result_id, connection_id)
        )
        if found is None:  # closed meanwhile, or sent to another connection since
            return
        item = Inflight(project_id, found.run_id, found.case_id, origin)
        invoke = Invoke(
            invocation_id=result_id,
            function=found.function,
            arguments=found.arguments,
            test_context=dict(
                run_id=found.run_id,
                case_id=found.case_id,
                result_id=result_id,
                configuration_id=found.configuration_id,
            ),
            timeout_s=found.timeout_s,
        )
        sent = await self._send_invoke(connection, invoke, item)
        op = "ack" if sent else "nack"
        await self._in_project(project_id, lambda db: notify(db, {**reply, "op": op}))

    # ------------------------------------------------------------------ linking

    def on_commit(self, project_id: int, trace_ids: frozenset[str]) -> None:
        """Ingest commit listener: queue the batch's traces for linking (never blocks)."""
        loop, queue = self._loop, self._link_queue
        if loop is None or queue is None or not trace_ids:
            return

        def put() -> None:
            try:
                queue.put_nowait((project_id, trace_ids))
            except asyncio.QueueFull:
                self.dropped_link_batches += 1  # the orphan sweep links these later

        with contextlib.suppress(RuntimeError):  # loop closed: shutting down
            loop.call_soon_threadsafe(put)

    async def _link_worker(self) -> None:
        assert self._link_queue is not None
        queue = self._link_queue
        while True:
            project_id, trace_ids = await queue.get()
            merged: dict[int, set[str]] = {project_id: set(trace_ids)}
            while not queue.empty() and sum(len(t) for t in merged.values()) < 5000:
                more_project, more = queue.get_nowait()
                merged.setdefault(more_project, set()).update(more)
            for pid, ids in merged.items():
                try:
                    await self._in_project(pid, self._linker(pid, ids))
                except Exception as error:  # the sweep retries later
                    logger.warning("spanlink: linking stored spans failed: %s", error)

    async def sweep_once(self) -> int:
        """Link orphans (run and case ids but no result) of every project; returns spans."""

        def project_ids() -> list[int]:
            with database_errors(), self.engine.begin() as db:
                return [int(row[0]) for row in db.execute(text("SELECT id FROM projects"))]

        linked = 0
        grace = self.settings.linking_grace_s
        for project_id in await run_in_threadpool(project_ids):
            linked += await self._in_project(project_id, self._sweeper(project_id, grace))
            # Cases and runs left open by a receiver that went away are closed here.
            await self._in_project(project_id, store.close_abandoned)
            # Client-reported runs whose reporter went silent (a killed pytest session).
            await self._in_project(project_id, reported.finish_vanished)
        return linked

    def _linker(self, project_id: int, trace_ids: set[str]) -> Callable[[Connection], int]:
        def link(db: Connection) -> int:
            return self.strategy.link_ingested(db, project_id, trace_ids)

        return link

    def _sweeper(self, project_id: int, grace: float) -> Callable[[Connection], int]:
        def sweep(db: Connection) -> int:
            return self.strategy.sweep(db, project_id, grace)

        return sweep

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.linking_sweep_interval_s)
            try:
                linked = await self.sweep_once()
                if linked:
                    logger.info("spanlink: orphan sweep linked %d span(s)", linked)
            except Exception as error:
                logger.warning("spanlink: orphan sweep failed: %s", error)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(CONNECTION_REFRESH_S)
            await self._refresh_runs()
            for project_id in {c.project_id for c in self.registry}:

                def refresh(db: Connection) -> None:
                    db.execute(
                        text(
                            "UPDATE endpoint_connections SET last_seen = now() "
                            "WHERE receiver_id = :r"
                        ),
                        {"r": self.receiver_id},
                    )

                try:
                    await self._in_project(project_id, refresh)
                except Exception as error:
                    logger.warning("spanlink: refreshing endpoint connections failed: %s", error)

    async def _refresh_runs(self) -> None:
        """Keep the runs this receiver executes marked as having a live executor."""
        by_project: dict[int, list[str]] = {}
        for run_id, state in list(self._runs.items()):
            by_project.setdefault(state.project_id, []).append(run_id)
        for project_id, run_ids in by_project.items():
            try:
                await self._in_project(
                    project_id,
                    partial(store.heartbeat_runs, run_ids=run_ids, receiver_id=self.receiver_id),
                )
            except Exception as error:
                logger.warning("spanlink: refreshing executed test runs failed: %s", error)


def _forget_connection(db: Connection, connection_id: str) -> None:
    db.execute(text("DELETE FROM endpoint_connections WHERE id = :id"), {"id": connection_id})


def _joined(chunks: list[Any]) -> Any:
    """The output streamed so far: str chunks concatenated, else the list."""
    if chunks and all(isinstance(chunk, str) for chunk in chunks):
        return "".join(chunks)
    return list(chunks)


def _json_list(values: list[str]) -> str:
    import json

    return json.dumps(values)


def _json_obj(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
