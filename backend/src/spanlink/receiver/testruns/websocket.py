"""``WS /ws/endpoints``: where ``spanlink-endpoint`` clients connect (``docs/protocol.md``).

The handshake must carry ``Authorization: Bearer <API key>``; the key's project owns the
connection (an unknown key is refused with HTTP 401 before the upgrade). The first message
must be ``register`` (within ``REGISTER_TIMEOUT_S``). Then the receiver sends ``invoke`` and
``cancel``, the client answers with ``result`` (after optional ``chunk`` messages of a
generator); either side may ``ping``. Each message is
checked against the size limit and the protocol; a bad one gets an ``error`` reply and the
connection stays open. Messages longer than ``OFFLOAD_CHARS`` are decoded on a worker thread
(at most ``DECODE_THREADS`` per app), so that a large ``register`` or ``result`` never holds
the event loop that serves health checks, ingest and every other connection. The receiver
pings every heartbeat interval and closes a connection silent for three of them.

A connection sending faster than its rate limit gets ``overloaded`` errors and its extra
messages are dropped. What is dropped is decided on the decoded message, never on its text:
only a ``result`` (or an ``error``) answering an invocation in flight on this connection is
accepted over the limit (dropping it would only turn into a timeout), and only once per
invocation; the first ``register`` of a connection is always read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from fastapi import APIRouter, HTTPException, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketState

from spanlink.protocol import (
    Chunk,
    Error,
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
from spanlink.receiver.api.auth import authenticate
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import DatabaseUnavailable
from spanlink.receiver.testruns.ratelimit import TokenBucket
from spanlink.receiver.testruns.registry import EndpointConnection, SendFailed
from spanlink.receiver.testruns.service import TestRunService

__all__ = ["DECODE_THREADS", "OFFLOAD_CHARS", "REGISTER_TIMEOUT_S", "max_frame_bytes", "router"]

logger = logging.getLogger("spanlink.receiver.testruns")

router = APIRouter()

#: Seconds a new connection has to send ``register``.
REGISTER_TIMEOUT_S = 10.0
#: Close codes (RFC 6455 section 7.4.1).
_POLICY_VIOLATION = 1008
_SERVER_ERROR = 1011
_GOING_AWAY = 1001
_MESSAGE_TOO_BIG = 1009
#: Messages above this many times the limit close the connection instead of an ``error``.
_HARD_LIMIT_FACTOR = 4
#: Messages longer than this (characters or bytes) are decoded on a worker thread.
OFFLOAD_CHARS = 64 * 1024
#: Worker threads decoding large messages at once, per app (others wait their turn).
DECODE_THREADS = 2


def max_frame_bytes(settings: Settings) -> int:
    """The WebSocket server's frame limit (uvicorn's ``ws_max_size``): the hard limit.

    A larger frame is refused while it arrives (close code 1009) instead of being buffered
    whole (uvicorn's default would take 16 MiB) and refused only then.
    """
    return _HARD_LIMIT_FACTOR * settings.endpoint_max_message_bytes


def _decode_slots(websocket: WebSocket) -> asyncio.Semaphore:
    """The app's semaphore bounding the threads that decode large messages."""
    state = websocket.app.state
    slots: asyncio.Semaphore | None = getattr(state, "endpoint_decode_slots", None)
    if slots is None:
        slots = state.endpoint_decode_slots = asyncio.Semaphore(DECODE_THREADS)
    return slots


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    """Refuse the handshake with an HTTP status when the server can, else close (403)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse(
                {"code": status, "message": message},
                status_code=status,
                headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
            )
        )
    else:
        await websocket.close(code=_POLICY_VIOLATION, reason=message[:120])


async def _authenticate(websocket: WebSocket) -> int | None:
    try:
        return await authenticate(
            websocket,
            "missing API key: send `Authorization: Bearer <key>` on the WebSocket handshake",
        )
    except HTTPException as error:
        await _deny(websocket, error.status_code, str(error.detail))
    except DatabaseUnavailable:
        await _deny(websocket, 503, "database unavailable; reconnect later")
    return None


class _Session:
    """One accepted WebSocket: registration, then the message loop."""

    def __init__(self, websocket: WebSocket, service: TestRunService, project_id: int) -> None:
        settings = service.settings
        self.websocket = websocket
        self.service = service
        self.project_id = project_id
        self.max_bytes = settings.endpoint_max_message_bytes
        self.heartbeat_s = settings.endpoint_heartbeat_interval_s
        rate = settings.endpoint_rate_limit_per_s
        self.bucket = TokenBucket(rate, max(2 * rate, 1.0))
        self.last_seen = time.monotonic()
        self.connection: EndpointConnection | None = None
        self.close_reason = "the endpoint closed the connection"
        self._last_overload_reply = 0.0

    async def send(self, message: Message) -> None:
        if self.connection is not None:
            await self.connection.send(message)
        else:
            await asyncio.wait_for(self.websocket.send_text(encode(message)), 5.0)

    async def receive(self) -> str | bytes | None:
        """The next message's data, or None when the connection closed."""
        event = await self.websocket.receive()
        if event["type"] == "websocket.disconnect":
            code = event.get("code")
            self.close_reason = f"the endpoint connection closed (code {code})"
            return None
        self.last_seen = time.monotonic()
        data: str | bytes | None = event.get("text")
        if data is None:
            data = event.get("bytes") or b""
        if len(data) > _HARD_LIMIT_FACTOR * self.max_bytes:
            # Far over the limit: not worth an answer (docs/protocol.md, "hard limit").
            self.close_reason = f"the endpoint sent a message of {len(data)} characters"
            await self.websocket.close(_MESSAGE_TOO_BIG, "message too big")
            return None
        return data

    async def decode(self, data: str | bytes) -> Message:
        """The validated message; raises ``ProtocolError``. Large ones off the event loop."""
        if len(data) <= OFFLOAD_CHARS:
            return decode(data, self.max_bytes)
        async with _decode_slots(self.websocket):
            return await asyncio.to_thread(decode, data, self.max_bytes)

    def answers_inflight(self, message: Message) -> bool:
        """True for the answer to an invocation in flight on this connection."""
        return (
            isinstance(message, (Result, Error))
            and self.connection is not None
            and message.invocation_id is not None
            and message.invocation_id in self.connection.inflight
        )

    async def admit(self, data: str | bytes) -> Message | None:
        """The decoded message to handle, or None: it was invalid (answered with an
        ``error``) or over the rate limit (dropped, answered with ``overloaded``)."""
        try:
            message = await self.decode(data)
        except ProtocolError as error:
            if self.bucket.take():
                await self.send(Error.from_exception(error))
            else:
                await self.overloaded()
            return None
        if isinstance(message, Register) and self.connection is None:
            return message  # the handshake itself is not counted
        if self.bucket.take() or self.answers_inflight(message):
            return message
        await self.overloaded()
        return None

    async def register(self) -> bool:
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self.websocket.close(_POLICY_VIOLATION, "no register message in time")
                return False
            try:
                data = await asyncio.wait_for(self.receive(), remaining)
            except asyncio.TimeoutError:
                continue
            if data is None:
                return False
            message = await self.admit(data)
            if message is None:
                continue
            if isinstance(message, Ping):
                await self.send(Pong(id=message.id))
            elif isinstance(message, Register):
                await self.accept_registration(message)
                return True
            else:
                await self.unexpected(message.type, f"send 'register' first (got {message.type!r})")

    async def accept_registration(self, message: Register) -> None:
        functions = {spec.name: spec for spec in message.functions}
        if self.connection is None:
            self.connection = EndpointConnection(
                id=uuid.uuid4().hex,
                project_id=self.project_id,
                environment=message.environment,
                functions=functions,
                send_text=self.websocket.send_text,
                instance_id=message.instance_id,
                sdk=message.sdk,
                sdk_version=message.sdk_version,
                metadata=dict(message.metadata),
            )
        else:  # registering again replaces the functions and the environment
            self.connection.functions = functions
            self.connection.environment = message.environment
        await self.service.connection_registered(self.connection)
        await self.send(
            Registered(
                functions=tuple(sorted(functions)),
                connection_id=self.connection.id,
                heartbeat_interval_s=self.heartbeat_s,
                max_message_bytes=self.max_bytes,
            )
        )

    async def overloaded(self) -> None:
        """Tell the client a message was dropped (at most once a second)."""
        now = time.monotonic()
        if now - self._last_overload_reply >= 1.0:  # the reply is rate limited too
            self._last_overload_reply = now
            await self.send(
                Error(
                    code="overloaded",
                    message="more messages than the rate limit allows; extra messages are "
                    "dropped: send less often",
                )
            )

    async def unexpected(
        self, message_type: str, why: str, invocation_id: str | None = None
    ) -> None:
        """Answer a message the receiver does not take now with an ``unexpected_message``."""
        await self.send(
            Error(
                code="unexpected_message",
                message=why,
                invocation_id=invocation_id,
                message_type=message_type,
            )
        )

    async def not_in_flight(self, invocation_id: str, message_type: str, dropped: str = "") -> None:
        """Tell the endpoint its ``message_type`` answers no invocation in flight here."""
        why = (
            f"no invocation {invocation_id!r} is in flight on this connection "
            f"(answered already, timed out or cancelled){dropped}"
        )
        await self.unexpected(message_type, why, invocation_id)

    async def handle(self, message: Message) -> None:
        assert self.connection is not None
        if isinstance(message, Result):
            if not await self.service.result_received(self.connection, message):
                await self.not_in_flight(message.invocation_id, "result")
        elif isinstance(message, Chunk):
            if not await self.service.chunk_received(self.connection, message):
                await self.not_in_flight(message.invocation_id, "chunk", "; chunk dropped")
        elif isinstance(message, Ping):
            await self.send(Pong(id=message.id))
        elif isinstance(message, Pong):
            pass
        elif isinstance(message, Register):
            await self.accept_registration(message)
        elif isinstance(message, Error):
            if message.invocation_id is not None:
                await self.service.invocation_failed(
                    self.connection,
                    message.invocation_id,
                    f"EndpointError: {message.code}: {message.message}",
                )
            else:
                logger.info("spanlink: endpoint reported %s: %s", message.code, message.message)
        else:
            await self.unexpected(message.type, f"a client does not send {message.type!r} messages")

    async def heartbeat(self) -> None:
        """Ping every interval; close the connection when silent for three of them."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if time.monotonic() - self.last_seen > 3 * self.heartbeat_s:
                self.close_reason = (
                    f"the endpoint sent nothing for {3 * self.heartbeat_s:g} s (heartbeat timeout)"
                )
                with contextlib.suppress(Exception):
                    await self.websocket.close(_SERVER_ERROR, "heartbeat timeout")
                return
            with contextlib.suppress(SendFailed, RuntimeError):
                await self.send(Ping(id=uuid.uuid4().hex[:12]))

    async def serve(self) -> None:
        if not await self.register():
            return
        beat = asyncio.ensure_future(self.heartbeat())
        try:
            while True:
                data = await self.receive()
                if data is None:
                    return
                message = await self.admit(data)
                if message is not None:
                    await self.handle(message)
        finally:
            beat.cancel()


@router.websocket("/ws/endpoints")
async def endpoint_socket(websocket: WebSocket) -> None:
    """Serve one endpoint client; see the module docs."""
    service: TestRunService = websocket.app.state.testruns
    project_id = await _authenticate(websocket)
    if project_id is None:
        return
    await websocket.accept()
    session = _Session(websocket, service, project_id)
    try:
        await session.serve()
    except (SendFailed, RuntimeError, ConnectionError) as error:
        session.close_reason = f"the endpoint connection failed: {error}"
    except asyncio.CancelledError:
        session.close_reason = "the receiver is shutting down"
        raise
    finally:
        if session.connection is not None:
            await asyncio.shield(
                service.connection_closed(session.connection, session.close_reason)
            )
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(_GOING_AWAY)
