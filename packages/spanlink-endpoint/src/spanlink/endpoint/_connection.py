"""One WebSocket connection to the receiver: opened, registered, kept alive.

:meth:`Connection.open` does the handshake (an HTTP 401/403 becomes
:class:`AuthenticationError`: the key is wrong, retrying would not fix it),
:meth:`Connection.register` waits (bounded) for ``registered``, :meth:`Connection.heartbeat`
drops a connection that stopped answering. :meth:`Connection.send` is the one way a message
leaves: encoded, counted in ``ClientStats``, and a closed socket is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from spanlink.endpoint._errors import AuthenticationError, RegistrationError
from spanlink.endpoint._stats import ClientStats
from spanlink.protocol import (
    Chunk,
    Error,
    ErrorCode,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Register,
    Registered,
    Result,
    decode,
    encode,
)

__all__ = ["SDK_NAME", "Connection", "sdk_version"]

logger = logging.getLogger("spanlink.endpoint")

SDK_NAME: Final = "spanlink-endpoint"
# websockets closes the connection on frames above its max_size; ours is above the protocol
# limit so that a moderately oversized message gets an error reply instead of a disconnect.
_HARD_LIMIT_FACTOR: Final = 4


def sdk_version() -> str:
    """The installed version of ``spanlink-endpoint`` (``0.0.0`` when not installed)."""
    try:
        from importlib.metadata import version

        return version(SDK_NAME)
    except Exception:
        return "0.0.0"


class Connection:
    """An open WebSocket to the receiver at ``url``; see the module docs."""

    def __init__(
        self, ws: ClientConnection, url: str, stats: ClientStats, max_message_bytes: int
    ) -> None:
        self.ws = ws
        self.url = url
        self.max_message_bytes = max_message_bytes
        #: The largest output a result may carry; lowered to what the receiver accepts.
        self.output_limit = 0
        self._stats = stats

    @classmethod
    async def open(
        cls,
        url: str,
        headers: Mapping[str, str],
        stats: ClientStats,
        *,
        max_message_bytes: int,
        open_timeout_s: float,
        heartbeat_interval_s: float,
        heartbeat_timeout_s: float,
    ) -> Connection:
        """Open the WebSocket (``headers`` on the handshake) within ``open_timeout_s``."""
        try:
            ws = await ws_connect(
                url,
                additional_headers=dict(headers),
                user_agent_header=f"{SDK_NAME}/{sdk_version()}",
                open_timeout=open_timeout_s,
                ping_interval=heartbeat_interval_s,
                ping_timeout=heartbeat_timeout_s,
                close_timeout=2.0,
                max_size=max_message_bytes * _HARD_LIMIT_FACTOR,
                max_queue=32,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (401, 403):
                raise AuthenticationError(
                    f"the receiver at {url} refused the API key (HTTP {status}); "
                    "the endpoint client will not retry: set a valid key with api_key= "
                    "or SPANLINK_API_KEY and start it again",
                    status,
                ) from None
            raise
        stats.connections += 1
        return cls(ws, url, stats, max_message_bytes)

    async def register(self, message: Register, timeout_s: float) -> Registered:
        """Send ``register`` and wait at most ``timeout_s`` for ``registered``.

        Pings meanwhile are answered; a refusal raises :class:`RegistrationError` (or
        :class:`AuthenticationError` for a refused key).
        """
        await self.ws.send(encode(message))
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RegistrationError(
                    f"no 'registered' answer from {self.url} within {timeout_s} s"
                )
            try:
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except asyncio.TimeoutError:
                continue
            try:
                reply = decode(raw, self.max_message_bytes)
            except ProtocolError as error:
                await self.send(Error.from_exception(error))
                continue
            if isinstance(reply, Registered):
                return reply
            if isinstance(reply, Ping):
                await self.send(Pong(id=reply.id))
            elif isinstance(reply, Error):
                if reply.code == "unauthorized":
                    raise AuthenticationError(
                        f"the receiver at {self.url} refused the registration: {reply.message}; "
                        "the endpoint client will not retry: check api_key= / SPANLINK_API_KEY"
                    )
                raise RegistrationError(
                    f"the receiver at {self.url} refused the registration "
                    f"({reply.code}): {reply.message}"
                )

    async def heartbeat(self, alive: asyncio.Event, interval: float, timeout_s: float) -> None:
        """Ping at each interval; drop the connection when nothing came back in time."""
        try:
            while True:
                await asyncio.sleep(interval)
                alive.clear()
                await self.send(Ping(id=uuid.uuid4().hex))
                try:
                    await asyncio.wait_for(alive.wait(), timeout_s)
                except asyncio.TimeoutError:
                    logger.warning(
                        "spanlink: no answer from %s for %.1f s; reconnecting",
                        self.url,
                        timeout_s,
                    )
                    await self.ws.close(code=1011, reason="heartbeat timeout")
                    return
        except ConnectionClosed:
            return

    async def send(self, message: Message) -> bool:
        """Send ``message``; False (logged) when it could not be encoded or the socket closed."""
        try:
            text = encode(message)
        except ProtocolError as error:
            logger.error("spanlink: could not encode a %s message: %s", message.type, error)
            return False
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            logger.warning(
                "spanlink: connection closed before a %s message could be sent", message.type
            )
            return False
        if isinstance(message, Result):
            self._stats.results_sent += 1
        elif isinstance(message, Chunk):
            self._stats.chunks_sent += 1
        elif isinstance(message, Error):
            self._stats.errors_sent += 1
        return True

    async def reply_error(
        self,
        code: ErrorCode,
        text: str,
        message_type: str | None = None,
        invocation_id: str | None = None,
    ) -> None:
        """Log ``text`` and send it as an ``error`` message."""
        logger.warning("spanlink: %s", text)
        await self.send(
            Error(code=code, message=text, message_type=message_type, invocation_id=invocation_id)
        )
