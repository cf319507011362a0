"""Executing a receiver-driven run: each case on an endpoint connection, within deadlines.

A run is executed by the receiver that accepted ``POST /api/v1/test-runs``: for each case it
picks an endpoint connection offering the function — on this receiver, else on another one
found in ``endpoint_connections`` — and invokes it directly or through the receiver holding
the connection (``_dispatch``). Every wait has a deadline: a case that gets no answer within
its timeout (plus a margin) is stored as ``timeout`` and cancelled at the endpoint; a
cancelled run closes its pending cases at once and its running ones when the endpoint
confirms, or after a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from spanlink.protocol import Cancel, Invoke
from spanlink.receiver.linking import ReceiverLinkingStrategy
from spanlink.receiver.redaction import RedactionBudget, redact_value
from spanlink.receiver.storage import run_in_project
from spanlink.receiver.testruns import store
from spanlink.receiver.testruns._connections import ConnectionRows, Target
from spanlink.receiver.testruns._dispatch import Dispatch
from spanlink.receiver.testruns._redact import redact_cases
from spanlink.receiver.testruns._results import Results
from spanlink.receiver.testruns.bus import notify
from spanlink.receiver.testruns.registry import (
    EndpointRegistry,
    Inflight,
    SendFailed,
    send_invoke,
)

__all__ = [
    "CANCEL_GRACE_S",
    "DISPATCH_ATTEMPTS",
    "ENDPOINT_WAIT_S",
    "RESULT_MARGIN_S",
    "NoEndpoint",
    "RunRequest",
    "RunState",
    "Runs",
]

logger = logging.getLogger("spanlink.receiver.testruns")

#: Added to a case's timeout before the receiver gives up on the endpoint's answer.
RESULT_MARGIN_S = 5.0
#: After a cancel, how long running cases wait for the endpoint to confirm.
CANCEL_GRACE_S = 3.0
#: Connections tried for one case before it fails (each found gone before taking it).
DISPATCH_ATTEMPTS = 3
#: How long a case waits for an endpoint offering its function to (re)connect.
ENDPOINT_WAIT_S = 5.0


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


@dataclass(eq=False)
class RunState:
    """A run this receiver executes."""

    project_id: int
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Runs:
    """The runs this receiver executes (``active``, by run id); see the module docs."""

    engine: Engine
    receiver_id: str
    registry: EndpointRegistry
    rows: ConnectionRows
    results: Results
    dispatch: Dispatch
    strategy: ReceiverLinkingStrategy
    active: dict[str, RunState] = field(default_factory=dict)

    def by_project(self) -> dict[int, list[str]]:
        """The ids of the runs executed here, by project."""
        by_project: dict[int, list[str]] = {}
        for run_id, state in list(self.active.items()):
            by_project.setdefault(state.project_id, []).append(run_id)
        return by_project

    async def start_run(self, project_id: int, request: RunRequest) -> dict[str, Any]:
        """Create the run (result ids allocated now) and start executing it.

        Raises :class:`NoEndpoint` when no endpoint offers the function right now.
        """
        if await self.rows.target(project_id, request.environment, request.function) is None:
            raise NoEndpoint(
                await self.rows.describe_missing(project_id, request.environment, request.function)
            )
        strategy_name = self.strategy.name
        rules = await run_in_threadpool(self.results.rules, project_id)
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
            # This receiver executes the run; refreshed while it does (see _heartbeat).
            store.heartbeat_runs(db, [run_id], self.receiver_id)
            return run_id, result_ids

        run_id, result_ids = await run_in_project(self.engine, project_id, create_and_claim)
        state = RunState(project_id)
        self.active[run_id] = state
        state.task = asyncio.ensure_future(self._execute(run_id, state, request, result_ids))
        return {"id": run_id, "status": "running", "result_ids": result_ids}

    async def _execute(
        self, run_id: str, state: RunState, request: RunRequest, result_ids: list[str]
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
                    await self.results.close_local(
                        state.project_id,
                        result_id,
                        "error",
                        "InternalError: the receiver failed to run this case; see its log",
                    )

        try:
            await asyncio.gather(
                *(one(rid, case) for rid, case in zip(result_ids, request.cases, strict=True))
            )
            evaluation = self.results.evaluation
            if evaluation is not None:  # the run is finished once every case is judged
                await evaluation.wait_run(state.project_id, run_id, evaluation.run_deadline())
            await run_in_project(
                self.engine, state.project_id, lambda db: store.finish_run(db, run_id)
            )
        except Exception:
            logger.exception("spanlink: test run %s failed", run_id)
            with contextlib.suppress(Exception):
                await run_in_project(
                    self.engine, state.project_id, lambda db: store.finish_run(db, run_id, "failed")
                )
        finally:
            self.active.pop(run_id, None)

    async def _run_case(
        self,
        run_id: str,
        state: RunState,
        request: RunRequest,
        result_id: str,
        case: store.CaseInput,
    ) -> None:
        project_id = state.project_id
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.results.waiters[result_id] = waiter
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
            await self.dispatch.cancel_invocation(project_id, target, result_id, error)
            await self.results.close_local(project_id, result_id, status, error)
        finally:
            self.results.waiters.pop(result_id, None)
            self.dispatch.acks.pop(result_id, None)

    async def _dispatch(
        self,
        run_id: str,
        state: RunState,
        request: RunRequest,
        result_id: str,
        case: store.CaseInput,
        waiter: asyncio.Future[None],
    ) -> Target | None:
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
                reason = await self.rows.describe_missing(
                    project_id, request.environment, request.function
                )
                await self.results.close_local(
                    project_id, result_id, "error", f"NoEndpoint: {reason}"
                )
                return None
            started = await run_in_project(
                self.engine,
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
                if await send_invoke(target.local, invoke, item):
                    return target
                continue
            if await self.dispatch.remote_dispatch(project_id, target, result_id, waiter):
                return target
            await self.rows.delete(project_id, target.connection_id)
        await self.results.close_local(
            project_id,
            result_id,
            "error",
            f"EndpointDisconnected: no endpoint connection took the invocation in "
            f"{DISPATCH_ATTEMPTS} attempts",
        )
        return None

    async def _await_target(self, state: RunState, request: RunRequest) -> Target | None:
        """An endpoint for the next case, waiting up to ``ENDPOINT_WAIT_S`` for one to
        (re)connect, so that a client reconnecting after a blip doesn't fail the cases."""
        deadline = asyncio.get_running_loop().time() + ENDPOINT_WAIT_S
        while True:
            target = await self.rows.target(state.project_id, request.environment, request.function)
            if target is not None or state.cancelled.is_set():
                return target
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def _wait(self, waiter: asyncio.Future[None], state: RunState, timeout: float) -> None:
        """Until the result, the deadline, or a cancel plus its grace — whichever is first."""
        cancel: asyncio.Future[Any] = asyncio.ensure_future(state.cancelled.wait())
        waiting: set[asyncio.Future[Any]] = {waiter, cancel}
        try:
            await asyncio.wait(waiting, timeout=timeout, return_when="FIRST_COMPLETED")
            if not waiter.done() and cancel.done():
                await asyncio.wait({waiter}, timeout=CANCEL_GRACE_S)
        finally:
            cancel.cancel()

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

        status = await run_in_project(self.engine, project_id, cancel)
        if status == "cancelled":
            await self.on_cancel_run(project_id, run_id, reason)
        return status

    async def on_cancel_run(self, project_id: int, run_id: str, reason: str) -> None:
        """A run was cancelled (here or on another receiver): stop it, cancel its invokes."""
        state = self.active.get(run_id)
        if state is not None and state.project_id == project_id:
            state.cancelled.set()
        for connection in self.registry:
            if connection.project_id != project_id:
                continue
            for invocation_id, item in list(connection.inflight.items()):
                if item.run_id == run_id:
                    with contextlib.suppress(SendFailed):
                        await connection.send(Cancel(invocation_id=invocation_id, reason=reason))
