"""Connected endpoints: one ``EndpointConnection`` per WebSocket, kept per project/environment.

This receiver's own connections live in memory (``EndpointRegistry``); every receiver also
writes its connections to the ``endpoint_connections`` table (see ``_connections``) so that a
test run started through another receiver can find and reach them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spanlink.protocol import FunctionSpec, Invoke, Message, encode

__all__ = ["EndpointConnection", "EndpointRegistry", "Inflight", "SendFailed", "send_invoke"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: The longest a send may wait on a slow client before the connection is given up.
SEND_TIMEOUT_S = 5.0


class SendFailed(ConnectionError):
    """A message could not be sent: the endpoint went away or stopped reading."""


@dataclass(slots=True)
class Inflight:
    """An ``invoke`` sent on a connection and not answered yet."""

    project_id: int
    run_id: str
    case_id: str | None
    origin: str
    """The receiver waiting for the answer (this one or another one, by receiver id)."""
    chunks: list[Any] = field(default_factory=list)
    """Streamed chunks kept so far (bounded by the service's caps)."""
    chunk_count: int = 0
    """Chunks received, kept or only counted."""
    chunk_bytes: int = 0
    partial_truncated: bool = False
    """Chunks arrived beyond the caps and are not in ``chunks``."""


@dataclass(eq=False)
class EndpointConnection:
    """One registered endpoint WebSocket."""

    id: str
    project_id: int
    environment: str | None
    functions: dict[str, FunctionSpec]
    send_text: Callable[[str], Any]
    """The socket's ``send_text`` coroutine function."""
    instance_id: str | None = None
    sdk: str | None = None
    sdk_version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    inflight: dict[str, Inflight] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: Message) -> None:
        """Send one message, serialised with other senders, within ``SEND_TIMEOUT_S``."""
        text = encode(message)

        async def locked_send() -> None:
            async with self._lock:
                await self.send_text(text)

        try:
            await asyncio.wait_for(locked_send(), SEND_TIMEOUT_S)
        except Exception as error:  # closed socket, timeout: the caller decides what fails
            raise SendFailed(
                f"could not send {message.type} to endpoint connection {self.id}: "
                f"{type(error).__name__}: {error}"
            ) from error


class EndpointRegistry:
    """This receiver's connected endpoints, by project and environment."""

    def __init__(self) -> None:
        self._by_id: dict[str, EndpointConnection] = {}
        self._counter = itertools.count()

    def add(self, connection: EndpointConnection) -> None:
        """Register (or re-register) a connection."""
        self._by_id[connection.id] = connection

    def remove(self, connection: EndpointConnection) -> None:
        """Forget a connection (it closed)."""
        self._by_id.pop(connection.id, None)

    def get(self, connection_id: str) -> EndpointConnection | None:
        """The connection with this id, if it is on this receiver."""
        return self._by_id.get(connection_id)

    def __iter__(self) -> Iterator[EndpointConnection]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def find(
        self, project_id: int, environment: str | None, function: str
    ) -> EndpointConnection | None:
        """The least busy connection of the project and environment offering ``function``."""
        candidates = [
            c
            for c in self._by_id.values()
            if c.project_id == project_id
            and c.environment == environment
            and function in c.functions
        ]
        if not candidates:
            return None
        # Least in flight first; ties rotate so load spreads over equal connections.
        turn = next(self._counter)
        candidates.sort(key=lambda c: len(c.inflight))
        fewest = [c for c in candidates if len(c.inflight) == len(candidates[0].inflight)]
        return fewest[turn % len(fewest)]


async def send_invoke(connection: EndpointConnection, invoke: Invoke, item: Inflight) -> bool:
    """Send an invoke; False (nothing in flight) when the connection is gone."""
    connection.inflight[invoke.invocation_id] = item
    try:
        await connection.send(invoke)
    except SendFailed as error:
        connection.inflight.pop(invoke.invocation_id, None)
        logger.info("spanlink: %s; trying another connection", error)
        return False
    return True
