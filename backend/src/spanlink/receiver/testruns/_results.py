"""Closing a result: the endpoint's answer, its failure, a disconnect, or this receiver's
own verdict (deadline, cancel, no endpoint).

The result is closed (if still open) with the project's redaction rules applied, its spans
are linked by the strategy in the same transaction, and the receiver waiting for it is
woken: this one directly, another one with a ``done`` notification. A result left
``evaluating`` (its case has evaluators) is handed to the evaluation service.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from spanlink.protocol import Result
from spanlink.receiver.evaluation import EVALUATING, EvaluationService
from spanlink.receiver.linking import ReceiverLinkingStrategy, ResultLink
from spanlink.receiver.redaction import EMPTY_RULES, CompiledRules, RulesCache
from spanlink.receiver.storage import run_in_project
from spanlink.receiver.testruns._redact import redact_finished
from spanlink.receiver.testruns.bus import notify
from spanlink.receiver.testruns.registry import EndpointConnection, Inflight
from spanlink.receiver.testruns.store import FinishedResult, finish_result

__all__ = ["Results"]

logger = logging.getLogger("spanlink.receiver.testruns")


@dataclass(eq=False)
class Results:
    """Stores results and wakes whoever waits for them; ``waiters`` by result id."""

    engine: Engine
    receiver_id: str
    strategy: ReceiverLinkingStrategy
    redaction: RulesCache | None
    #: Judges results whose cases have evaluators (an expected output included).
    evaluation: EvaluationService | None = None
    #: Cases this receiver executes, waiting for their result.
    waiters: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    def rules(self, project_id: int) -> CompiledRules:
        """The project's redaction rules (a database read when not cached: a worker thread)."""
        return self.redaction.get(project_id) if self.redaction is not None else EMPTY_RULES

    async def received(self, connection: EndpointConnection, message: Result) -> bool:
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
        await self.store(
            item,
            message.invocation_id,
            FinishedResult(
                status=message.status,
                output=message.output,
                error=f"{error.type}: {error.message}" if error else None,
                duration_ms=message.duration_ms,
                trace_id=message.trace_id,
                metadata=metadata,
            ),
        )
        return True

    async def failed(self, connection: EndpointConnection, invocation_id: str, reason: str) -> bool:
        """The endpoint could not handle an invoke (an ``error`` naming it)."""
        item = connection.inflight.pop(invocation_id, None)
        if item is None:
            return False
        await self.store(
            item,
            invocation_id,
            FinishedResult(status="error", error=reason, metadata={"error_type": "EndpointError"}),
        )
        return True

    async def disconnected(self, connection: EndpointConnection, reason: str) -> None:
        """A WebSocket closed: fail its invocations with the reason."""
        inflight, connection.inflight = dict(connection.inflight), {}
        for result_id, item in inflight.items():
            await self.store(
                item,
                result_id,
                FinishedResult(
                    status="error",
                    error=f"EndpointDisconnected: {reason}",
                    metadata={"error_type": "EndpointDisconnected"},
                ),
            )

    async def close_local(self, project_id: int, result_id: str, status: str, error: str) -> None:
        """Close a result from this receiver (deadline, cancel, no endpoint)."""
        item = Inflight(project_id, "", None, self.receiver_id)
        await self.store(
            item,
            result_id,
            FinishedResult(
                status=status, error=error, metadata={"error_type": error.split(":", 1)[0]}
            ),
        )

    async def store(self, item: Inflight, result_id: str, result: FinishedResult) -> None:
        """Close the result (if still open), link its spans, wake the waiting receiver."""
        strategy = self.strategy
        evaluate: list[str] = []

        def write(db: Connection) -> None:
            redacted = redact_finished(result, self.rules(item.project_id))
            closed = finish_result(db, result_id, redacted)
            if closed is not None:
                run_id, case_id, status = closed
                if status == EVALUATING:
                    evaluate.append(result_id)
                strategy.link_result(
                    db, item.project_id, ResultLink(result_id, run_id, case_id, result.trace_id)
                )
            if item.origin != self.receiver_id:
                notify(db, {"op": "done", "target": item.origin, "result_id": result_id})

        try:
            await run_in_project(self.engine, item.project_id, write)
        except Exception:
            logger.exception("spanlink: storing the result of %s failed", result_id)
        if evaluate and self.evaluation is not None:  # judged here, off the request path
            self.evaluation.submit(item.project_id, result_id)
        if item.origin == self.receiver_id:
            self.wake(result_id)

    def wake(self, result_id: str) -> None:
        """Wake the case of this receiver waiting for ``result_id`` (if any)."""
        waiter = self.waiters.get(result_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
