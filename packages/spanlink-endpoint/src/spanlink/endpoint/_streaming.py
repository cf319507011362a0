"""Streaming a generator's chunks to the receiver as ``chunk`` messages, bounded.

A :class:`ChunkStream` belongs to one invocation. :meth:`ChunkStream.push` (on the event
loop) or :meth:`ChunkStream.push_threadsafe` (from the worker thread of a sync generator)
hands it each chunk; it never waits: the chunk goes into a small buffer that one sender
task empties onto the socket in order. Past the per-invocation caps (chunk count, bytes of
chunk data), or when the buffer is full because the socket is slow, chunks are only
counted. :meth:`ChunkStream.aclose` gives the buffered chunks a short deadline to go out,
so that they precede the ``result``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from spanlink.endpoint._output import to_json_value
from spanlink.protocol import Chunk, Message

__all__ = [
    "DEFAULT_MAX_STREAM_BYTES",
    "DEFAULT_MAX_STREAM_CHUNKS",
    "DEFAULT_STREAM_FLUSH_S",
    "ChunkStream",
]

logger = logging.getLogger("spanlink.endpoint")

#: Chunks streamed per invocation before the rest are only counted.
DEFAULT_MAX_STREAM_CHUNKS: Final = 1000
#: Bytes of chunk data (JSON) streamed per invocation before the rest are only counted.
DEFAULT_MAX_STREAM_BYTES: Final = 256 * 1024
#: The most the result waits for buffered chunks to be sent.
DEFAULT_STREAM_FLUSH_S: Final = 1.0
# Chunks waiting for the socket; a full buffer means a slow socket: stop streaming.
_BUFFER: Final = 64
# Room for the envelope of a chunk message around its data.
_ENVELOPE_BYTES: Final = 512


class ChunkStream:
    """The chunks of one invocation; see the module docs.

    Args:
        invocation_id: the ``invoke``'s id, carried by each chunk.
        send: sends one message; returns False when it could not.
        max_chunks, max_bytes: per-invocation caps on what is streamed.
        max_message_bytes: the receiver's message limit: a larger chunk is not streamed.
    """

    def __init__(
        self,
        invocation_id: str,
        send: Callable[[Message], Awaitable[bool]],
        *,
        max_chunks: int = DEFAULT_MAX_STREAM_CHUNKS,
        max_bytes: int = DEFAULT_MAX_STREAM_BYTES,
        max_message_bytes: int = 1024 * 1024,
    ) -> None:
        self.invocation_id = invocation_id
        self._send = send
        self.max_chunks = max_chunks
        self.max_bytes = max_bytes
        self.max_message_bytes = max_message_bytes
        #: Chunks produced (streamed or only counted).
        self.count = 0
        #: Chunks handed to the sender.
        self.streamed = 0
        self.streamed_bytes = 0
        self._stopped = False
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(_BUFFER)
        self._sender: asyncio.Task[None] | None = None

    def push(self, chunk: Any) -> None:
        """Count ``chunk`` and stream it when within the caps; never waits."""
        if self._closed:
            return
        index = self.count
        self.count += 1
        if self._stopped:
            return
        if self.streamed >= self.max_chunks:
            self._stop("the chunk cap is reached")
            return
        try:
            data = to_json_value(chunk)
            size = len(json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        except Exception:  # a chunk JSON cannot hold: the result reports the output anyway
            self._stop("a chunk could not be converted to JSON")
            return
        if (
            self.streamed_bytes + size > self.max_bytes
            or size + _ENVELOPE_BYTES > self.max_message_bytes
        ):
            self._stop("the byte cap is reached")
            return
        try:
            self._queue.put_nowait(Chunk(self.invocation_id, index, data))
        except asyncio.QueueFull:
            self._stop("the connection is too slow")
            return
        self.streamed += 1
        self.streamed_bytes += size
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._run())

    def push_threadsafe(self, chunk: Any) -> None:
        """:meth:`push` from another thread (in order with the thread's other pushes)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: nothing to stream to
            self._loop.call_soon_threadsafe(self.push, chunk)

    async def aclose(self, timeout: float = DEFAULT_STREAM_FLUSH_S) -> None:
        """Stop taking chunks; wait up to ``timeout`` s for the buffered ones to be sent."""
        self._closed = True
        sender = self._sender
        if sender is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        done, _ = await asyncio.wait({sender}, timeout=timeout)
        if not done:
            sender.cancel()
            await asyncio.wait({sender}, timeout=0.5)

    def _stop(self, why: str) -> None:
        self._stopped = True
        logger.debug(
            "spanlink: streaming of invocation %s stopped after %d chunk(s): %s",
            self.invocation_id,
            self.streamed,
            why,
        )

    async def _run(self) -> None:
        while True:
            if self._closed and self._queue.empty():
                return
            message = await self._queue.get()
            if message is None:
                return
            if not await self._send(message):
                self._stopped = True
                return
