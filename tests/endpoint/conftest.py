"""Fixtures for ``tests/endpoint``: a real OpenTelemetry pipeline and a protocol peer.

The global tracer provider can be set once per process, so (as in ``tests/tracer``) the
session shares one SDK ``TracerProvider``: set here the first time, or taken over when an
SDK provider is already global. Two exporters of our own hang on it:

- ``spans``: fed by ``SpanlinkProcessor(SimpleSpanProcessor)`` (every ended span, at once,
  with the test context stamped as in an application set up with ``configure()``);
- ``batched``: fed by a ``BatchSpanProcessor`` with a one-minute delay, so a span is in it
  early only if somebody force-flushed the provider — which is what the endpoint client
  must do before it reports a result.

``Peer`` plays the receiver over a real WebSocket on loopback (``websockets`` server): it
checks the bearer token on the handshake, answers ``register`` with ``registered``, sends
invocations and collects what the client sends back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator, Mapping
from http import HTTPStatus
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_helpers import global_sdk_provider
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

import spanlink.protocol as p
from spanlink.endpoint import EndpointClient, Registry
from spanlink.tracer import SpanlinkProcessor
from spanlink.tracer.plugins import get_plugin_manager

TOKEN = "sk-test-123"

_state: dict[str, Any] = {}


def _session_provider() -> dict[str, Any]:
    if not _state:
        provider = global_sdk_provider()
        immediate, batched = InMemorySpanExporter(), InMemorySpanExporter()
        # SpanlinkProcessor stamps the test context on each span, as configure() sets up.
        provider.add_span_processor(
            SpanlinkProcessor(
                processor=SimpleSpanProcessor(immediate), plugin_manager=get_plugin_manager()
            )
        )
        provider.add_span_processor(
            BatchSpanProcessor(batched, schedule_delay_millis=60_000, max_export_batch_size=512)
        )
        _state.update(provider=provider, immediate=immediate, batched=batched)
    return _state


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span ended during the test (SimpleSpanProcessor)."""
    exporter: InMemorySpanExporter = _session_provider()["immediate"]
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture
def batched() -> Iterator[InMemorySpanExporter]:
    """Spans that reached a BatchSpanProcessor's exporter, i.e. were force-flushed."""
    state = _session_provider()
    state["provider"].force_flush(5000)
    exporter: InMemorySpanExporter = state["batched"]
    exporter.clear()
    yield exporter
    exporter.clear()


class Peer:
    """The receiver's side of the protocol, over a real WebSocket server on loopback."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        path: str = "/ws/endpoints",
        answer_pings: bool = True,
        register_reply: p.Message | None = None,
        refuse_status: int = 401,
    ) -> None:
        self.refuse_status = refuse_status
        self.token = token
        self.path = path
        self.answer_pings = answer_pings
        self.register_reply = register_reply
        self.port = 0
        self.server: Server | None = None
        self.handshakes = 0
        self.refused = 0
        self.requests: list[Request] = []
        self.registers: list[p.Register] = []
        self.pings: list[p.Ping] = []
        self.inbox: asyncio.Queue[p.Message] = asyncio.Queue()
        self.registered = asyncio.Event()
        self.connection: ServerConnection | None = None
        self._results: dict[str, asyncio.Future[p.Result]] = {}
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    async def start(self, port: int = 0) -> Peer:
        self.server = await serve(
            self._handler,
            "127.0.0.1",
            port,
            process_request=self._check,
            max_size=8 * 1024 * 1024,
        )
        self.port = port or self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.registered.clear()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        self.requests.append(request)
        if request.path != self.path:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such route\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused += 1
            phrase = HTTPStatus(self.refuse_status).phrase
            return Response(self.refuse_status, phrase, Headers(), b"invalid API key\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        register = p.decode(await ws.recv())
        assert isinstance(register, p.Register)
        self.registers.append(register)
        reply = self.register_reply or p.Registered(
            functions=tuple(f.name for f in register.functions), connection_id="c1"
        )
        await ws.send(p.encode(reply))
        if isinstance(reply, p.Error):
            return
        self.connection = ws
        self.registered.set()
        try:
            async for raw in ws:
                message = p.decode(raw)
                if isinstance(message, p.Ping):
                    self.pings.append(message)
                    if self.answer_pings:
                        await ws.send(p.encode(p.Pong(id=message.id)))
                    continue
                if isinstance(message, p.Result) and message.invocation_id in self._results:
                    future = self._results.pop(message.invocation_id)
                    if not future.done():
                        future.set_result(message)
                    continue
                await self.inbox.put(message)
        except ConnectionClosed:
            pass
        finally:
            if self.connection is ws:
                self.connection = None
                self.registered.clear()

    async def wait_registered(self, timeout: float = 10.0) -> p.Register:
        await asyncio.wait_for(self.registered.wait(), timeout)
        return self.registers[-1]

    async def send(self, message: p.Message | str | bytes) -> None:
        assert self.connection is not None, "no client connected"
        text = message if isinstance(message, (str, bytes)) else p.encode(message)
        await self.connection.send(text)

    def expect_result(self, invocation_id: str) -> asyncio.Future[p.Result]:
        future: asyncio.Future[p.Result] = asyncio.get_running_loop().create_future()
        self._results[invocation_id] = future
        return future

    async def invoke(
        self,
        function: str,
        arguments: dict[str, Any] | None = None,
        *,
        context: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        wait: float = 20.0,
    ) -> p.Result:
        invocation_id = f"inv-{next(self._ids)}"
        future = self.expect_result(invocation_id)
        await self.send(
            p.Invoke(
                invocation_id=invocation_id,
                function=function,
                arguments=arguments or {},
                test_context=context or {},
                timeout_s=timeout_s,
            )
        )
        return await asyncio.wait_for(future, wait)

    async def next_message(self, timeout: float = 10.0) -> p.Message:
        return await asyncio.wait_for(self.inbox.get(), timeout)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    server = await Peer().start()
    try:
        yield server
    finally:
        await server.stop()


def fast_client(url: str, registry: Registry, **options: Any) -> EndpointClient:
    """A client with test-friendly (short) backoff; other settings are the defaults."""
    settings: dict[str, Any] = {
        "api_key": TOKEN,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        "flush_timeout_s": 2.0,
    }
    settings.update(options)
    return EndpointClient(url, registry=registry, **settings)


@contextlib.asynccontextmanager
async def _serving(peer: Peer, registry: Registry, **options: Any) -> AsyncIterator[EndpointClient]:
    """Run a client against ``peer`` for the block, registered on entry."""
    client = fast_client(peer.url, registry, **options)
    async with client:
        await peer.wait_registered()
        yield client


@pytest.fixture
def serving() -> Any:
    """``async with serving(peer, registry, **options) as client``: a registered client."""
    return _serving


@pytest.fixture
def make_client() -> Any:
    """``make_client(url, registry, **options)``: a client with short backoff, not started."""
    return fast_client


@pytest.fixture
async def make_peer() -> AsyncIterator[Any]:
    """``await make_peer(**options)``: another started Peer (stopped after the test)."""
    peers: list[Peer] = []

    async def factory(port: int = 0, **options: Any) -> Peer:
        server = await Peer(**options).start(port)
        peers.append(server)
        return server

    yield factory
    for server in peers:
        await server.stop()
