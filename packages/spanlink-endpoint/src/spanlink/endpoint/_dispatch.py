"""What the client does with each message from the receiver, and the invocations it starts.

``invoke`` starts an invocation (refused when the same id is running or ``max_pending``
are running or waiting), which waits for one of ``max_concurrency`` slots, runs through the
:class:`~spanlink.endpoint._runner.Runner` with its generator chunks streamed, and always
ends with one ``result``. ``cancel`` stops one, ``ping`` is answered; a message that cannot
be handled gets an ``error`` (or, for a bad ``invoke``, a failed ``result``) reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from spanlink.endpoint._connection import Connection
from spanlink.endpoint._registry import Registry
from spanlink.endpoint._runner import Invocation, Runner
from spanlink.endpoint._stats import ClientStats
from spanlink.endpoint._streaming import ChunkStream
from spanlink.protocol import (
    Cancel,
    Error,
    ErrorInfo,
    Invoke,
    Ping,
    Pong,
    ProtocolError,
    Registered,
    Result,
    decode,
)

__all__ = ["Dispatcher", "Limits"]

logger = logging.getLogger("spanlink.endpoint")


class Limits(Protocol):
    """The client settings the dispatcher reads (an ``EndpointClient`` has them all)."""

    registry: Registry
    stats: ClientStats
    max_concurrency: int
    max_pending: int
    max_stream_chunks: int
    max_stream_bytes: int
    stream_flush_s: float


class Dispatcher:
    """Handles the receiver's messages for one client run; see the module docs."""

    def __init__(self, limits: Limits, runner: Runner) -> None:
        self._limits = limits
        self._runner = runner
        self._semaphore = asyncio.Semaphore(limits.max_concurrency)
        self._inflight: dict[str, tuple[Invocation, asyncio.Task[None]]] = {}

    async def handle(self, conn: Connection, raw: str | bytes) -> None:
        """Decode one message from the receiver and act on it; never raises for bad input."""
        try:
            message = decode(raw, conn.max_message_bytes)
        except ProtocolError as error:
            logger.warning("spanlink: bad message from the receiver: %s", error)
            if error.message_type == "invoke" and error.invocation_id:
                # Answer the invocation itself so that the receiver does not wait for it.
                await conn.send(
                    Result(
                        invocation_id=error.invocation_id,
                        status="error",
                        error=ErrorInfo(type="ProtocolError", message=error.reason),
                    ),
                )
            else:
                await conn.send(Error.from_exception(error))
            return
        if isinstance(message, Invoke):
            await self._accept(conn, message)
        elif isinstance(message, Ping):
            await conn.send(Pong(id=message.id))
        elif isinstance(message, Cancel):
            entry = self._inflight.get(message.invocation_id)
            if entry is not None:
                entry[0].cancel(message.reason or "cancelled by the receiver")
        elif isinstance(message, Error):
            logger.warning(
                "spanlink: the receiver reported an error (%s): %s", message.code, message.message
            )
        elif isinstance(message, (Pong, Registered)):
            pass  # liveness only; a repeated 'registered' changes nothing
        else:
            await conn.reply_error(
                "unexpected_message",
                f"a {message.type!r} message is not expected from the receiver",
                message_type=message.type,
            )

    def connection_lost(self) -> None:
        """Cancel every invocation without a reply: the receiver marks them failed itself."""
        for invocation, task in list(self._inflight.values()):
            invocation.cancel("connection lost")
            task.cancel()
        self._inflight.clear()

    async def stop(self, grace_s: float) -> None:
        """Cancel every invocation and give them ``grace_s`` to report ``cancelled``."""
        for invocation, _ in list(self._inflight.values()):
            invocation.cancel("the endpoint client is stopping")
        tasks = [task for _, task in self._inflight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)

    def abandon(self) -> None:
        """Cancel the tasks still running (the client's run has ended)."""
        for _, task in list(self._inflight.values()):
            task.cancel()

    async def _accept(self, conn: Connection, message: Invoke) -> None:
        invocation_id = message.invocation_id
        limits = self._limits
        if invocation_id in self._inflight:
            # Replies are awaited here: a flood of invokes slows our reading (backpressure)
            # instead of piling up reply tasks.
            await conn.reply_error(
                "duplicate_invocation",
                f"invocation {invocation_id!r} is already running; not started again",
                "invoke",
                invocation_id,
            )
            return
        if len(self._inflight) >= limits.max_pending:
            limits.stats.rejected += 1
            result = Result(
                invocation_id=invocation_id,
                status="error",
                error=ErrorInfo(
                    type="Overloaded",
                    message=f"{len(self._inflight)} invocations already running or waiting "
                    f"(max_pending={limits.max_pending}); retry later or raise max_pending",
                ),
            )
            await conn.send(result)
            return
        limits.stats.invocations += 1
        invocation = Invocation(message)
        task = asyncio.ensure_future(self._invoke(conn, invocation))
        self._inflight[invocation_id] = (invocation, task)

    async def _invoke(self, conn: Connection, invocation: Invocation) -> None:
        limits = self._limits
        try:
            async with self._semaphore:
                if invocation.cancel_reason is not None:
                    result = Result(
                        invocation_id=invocation.invocation_id,
                        status="cancelled",
                        error=ErrorInfo(type="Cancelled", message=invocation.cancel_reason),
                    )
                else:
                    registry = limits.registry
                    item = registry.get(invocation.message.function)
                    names = registry.names() if item is None else []
                    stream = ChunkStream(
                        invocation.invocation_id,
                        conn.send,
                        max_chunks=limits.max_stream_chunks,
                        max_bytes=limits.max_stream_bytes,
                        max_message_bytes=conn.output_limit + 1024,
                    )
                    try:
                        result = await self._runner.run(
                            item, invocation, names, conn.output_limit, stream
                        )
                    finally:
                        # Streamed chunks go out before the result (bounded wait).
                        await stream.aclose(limits.stream_flush_s)
            await conn.send(result)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug of ours must not leave the receiver waiting: answer, then log.
            logger.exception("spanlink: handling invocation %s failed", invocation.invocation_id)
            await conn.send(
                Result(
                    invocation_id=invocation.invocation_id,
                    status="error",
                    error=ErrorInfo(type="InternalError", message="the endpoint client failed"),
                ),
            )
        finally:
            self._inflight.pop(invocation.invocation_id, None)
