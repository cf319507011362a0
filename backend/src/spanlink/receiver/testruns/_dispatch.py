"""Between receivers: invocations routed over Postgres ``LISTEN``/``NOTIFY``.

The receiver executing a run may find the connection for a case on another receiver (a row
of ``endpoint_connections``). It then notifies that receiver (``invoke``), which sends the
invoke on its connection and acknowledges (``ack``; ``nack`` when the connection is gone).
The receiver that gets the result stores it and notifies the executing one (``done``).
Cancels travel the same way (``cancel_invocation``, ``cancel_run``). Each message names its
``target`` receiver (``cancel_run`` goes to all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from spanlink.protocol import Cancel, Invoke
from spanlink.receiver.storage import run_in_project
from spanlink.receiver.testruns._connections import Target
from spanlink.receiver.testruns.bus import notify
from spanlink.receiver.testruns.registry import EndpointRegistry, Inflight, SendFailed, send_invoke
from spanlink.receiver.testruns.store import invocation_target

__all__ = ["ACK_TIMEOUT_S", "Dispatch"]

#: How long the receiver holding a connection has to acknowledge a routed invoke.
ACK_TIMEOUT_S = 2.0


@dataclass(eq=False)
class Dispatch:
    """This receiver's side of the routing: sends to other receivers, handles their messages.

    ``wake(result_id)`` wakes a case waiting here; ``on_cancel_run(project_id, run_id,
    reason)`` cancels a run on this receiver. ``acks`` are the routed invokes waiting for
    their acknowledgement, by result id.
    """

    engine: Engine
    receiver_id: str
    registry: EndpointRegistry
    wake: Callable[[str], None]
    on_cancel_run: Callable[[int, str, str], Awaitable[None]]
    acks: dict[str, asyncio.Future[bool]] = field(default_factory=dict)

    async def remote_dispatch(
        self, project_id: int, target: Target, result_id: str, waiter: asyncio.Future[None]
    ) -> bool:
        """Ask the receiver holding the connection to invoke; True once it acknowledged."""
        ack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.acks[result_id] = ack
        payload = {
            "op": "invoke",
            "target": target.receiver_id,
            "connection_id": target.connection_id,
            "project_id": project_id,
            "result_id": result_id,
            "origin": self.receiver_id,
        }
        await run_in_project(self.engine, project_id, lambda db: notify(db, payload))
        waiting: set[asyncio.Future[Any]] = {ack, waiter}
        await asyncio.wait(waiting, timeout=ACK_TIMEOUT_S, return_when="FIRST_COMPLETED")
        self.acks.pop(result_id, None)
        if waiter.done():
            return True
        return ack.done() and ack.result()

    async def cancel_invocation(
        self, project_id: int, target: Target, result_id: str, reason: str
    ) -> None:
        """Cancel an invocation at its endpoint, here or through the receiver holding it."""
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
            await run_in_project(self.engine, project_id, lambda db: notify(db, payload))

    async def on_notification(self, payload: dict[str, Any]) -> None:
        """A message of another receiver (the :class:`NotificationBus` handler)."""
        op = payload.get("op")
        if op == "cancel_run":
            if payload.get("origin") == self.receiver_id:
                return
            project_id, run_id = payload.get("project_id"), payload.get("run_id")
            if isinstance(project_id, int) and isinstance(run_id, str):
                await self.on_cancel_run(project_id, run_id, str(payload.get("reason") or ""))
            return
        if payload.get("target") != self.receiver_id:
            return
        result_id = payload.get("result_id")
        if not isinstance(result_id, str):
            return
        if op == "done":
            self.wake(result_id)
        elif op in ("ack", "nack"):
            ack = self.acks.get(result_id)
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
            await run_in_project(
                self.engine, project_id, lambda db: notify(db, {**reply, "op": "nack"})
            )
            return
        found = await run_in_project(
            self.engine, project_id, lambda db: invocation_target(db, result_id, connection_id)
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
        sent = await send_invoke(connection, invoke, item)
        op = "ack" if sent else "nack"
        await run_in_project(self.engine, project_id, lambda db: notify(db, {**reply, "op": op}))
