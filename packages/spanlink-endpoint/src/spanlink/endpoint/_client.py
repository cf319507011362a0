"""``EndpointClient``: the WebSocket client that serves ``@endpoint`` functions to test runs.

One client keeps one connection to the receiver: it sends ``register`` with the functions
of its registry, waits for ``registered``, then answers ``invoke``/``cancel``/``ping``
messages until stopped. A lost connection is re-opened with exponential backoff and full
jitter, and the functions are registered again. An HTTP 401/403 on the handshake is not
retried: the key is wrong, retrying would not fix it. A message that cannot be handled
(malformed, oversized, unknown type, unknown function, wrong arguments) gets an ``error``
or a failed ``result`` reply; the connection and the process go on.

Run it as an asyncio task (``await client.run()`` or ``async with client:``) or in a
background thread for sync applications (``client.start()`` ... ``client.stop()``).

This module holds the client's settings, its lifecycle and the reconnect loop; one
connection is :mod:`spanlink.endpoint._connection`, what is done with each message
:mod:`spanlink.endpoint._dispatch`, one invocation :mod:`spanlink.endpoint._runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed

from spanlink.endpoint._config import resolve_api_key, resolve_environment, websocket_url
from spanlink.endpoint._connection import SDK_NAME, Connection, sdk_version
from spanlink.endpoint._dispatch import Dispatcher
from spanlink.endpoint._errors import AuthenticationError, ConfigurationError
from spanlink.endpoint._registry import Registry, default_registry
from spanlink.endpoint._runner import Runner
from spanlink.endpoint._stats import ClientStats
from spanlink.endpoint._streaming import (
    DEFAULT_MAX_STREAM_BYTES,
    DEFAULT_MAX_STREAM_CHUNKS,
    DEFAULT_STREAM_FLUSH_S,
)
from spanlink.protocol import DEFAULT_MAX_BYTES, Register
from spanlink.tracer import ContextThreadPoolExecutor
from spanlink.tracer.support import backoff_delay

__all__ = ["ClientStats", "EndpointClient", "backoff_delay", "connect"]

logger = logging.getLogger("spanlink.endpoint")


class EndpointClient:
    """Serves the functions of ``registry`` to the receiver at ``url``; see the module docs.

    Args:
        url: the WebSocket URL (see :func:`spanlink.endpoint._config.websocket_url`).
        api_key: sent as ``Authorization: Bearer <key>`` on the handshake.
        environment: announced in ``register`` (e.g. ``staging``).
        registry: the functions to serve (default: those decorated with ``@endpoint``).
        max_concurrency: invocations running at once; more wait for a slot.
        max_pending: invocations running or waiting; beyond it an ``invoke`` is refused
            with a failed result (default ``4 * max_concurrency``).
        default_timeout_s: deadline of an invocation whose ``invoke`` gives none.
        max_message_bytes: largest message accepted; larger ones get an ``oversized`` error.
        max_output_bytes: outputs above it are cut and marked ``output_truncated``.
        heartbeat_interval_s: how often to ``ping`` the receiver (and websockets keepalive).
        heartbeat_timeout_s: no answer within it: the connection is dropped and re-opened.
        open_timeout_s: deadline of the TCP + TLS + WebSocket handshake.
        register_timeout_s: deadline for the ``registered`` answer.
        reconnect_initial_s, reconnect_max_s: backoff bounds (full jitter in between).
        flush_timeout_s: the most spent flushing an invocation's spans before the result.
        max_stream_chunks, max_stream_bytes: per invocation, the generator chunks (and bytes
            of chunk data) streamed as ``chunk`` messages; beyond them chunks are only
            counted (the ``result`` still has the whole output).
        stream_flush_s: the most the ``result`` waits for buffered chunks to be sent.
        count_spans: report ``span_count`` (spans this process produced for the
            invocation), by adding a small counting processor to the global SDK provider.
        headers: extra handshake headers.
        metadata: announced in ``register`` (host name, pid and Python version are added).
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        environment: str | None = None,
        registry: Registry | None = None,
        max_concurrency: int = 8,
        max_pending: int | None = None,
        default_timeout_s: float = 300.0,
        max_message_bytes: int = DEFAULT_MAX_BYTES,
        max_output_bytes: int | None = None,
        heartbeat_interval_s: float = 20.0,
        heartbeat_timeout_s: float = 20.0,
        open_timeout_s: float = 10.0,
        register_timeout_s: float = 10.0,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        flush_timeout_s: float = 5.0,
        max_stream_chunks: int = DEFAULT_MAX_STREAM_CHUNKS,
        max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES,
        stream_flush_s: float = DEFAULT_STREAM_FLUSH_S,
        count_spans: bool = True,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if max_message_bytes < 1024:
            raise ConfigurationError("max_message_bytes must be at least 1024")
        for label, value in (
            ("default_timeout_s", default_timeout_s),
            ("heartbeat_interval_s", heartbeat_interval_s),
            ("heartbeat_timeout_s", heartbeat_timeout_s),
            ("open_timeout_s", open_timeout_s),
            ("register_timeout_s", register_timeout_s),
            ("reconnect_initial_s", reconnect_initial_s),
            ("reconnect_max_s", reconnect_max_s),
            ("flush_timeout_s", flush_timeout_s),
            ("stream_flush_s", stream_flush_s),
        ):
            if not value > 0:
                raise ConfigurationError(f"{label} must be a positive number of seconds")
        self.url = url
        self.api_key = api_key
        self.environment = environment
        self.registry = registry if registry is not None else default_registry
        self.max_concurrency = max_concurrency
        self.max_pending = max_pending if max_pending is not None else 4 * max_concurrency
        self.max_message_bytes = max_message_bytes
        # The output must leave room for the rest of the result in one message.
        self.max_output_bytes = max_output_bytes or max_message_bytes // 4
        if self.max_output_bytes > max_message_bytes - 1024:
            raise ConfigurationError("max_output_bytes must be below max_message_bytes - 1024")
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.open_timeout_s = open_timeout_s
        self.register_timeout_s = register_timeout_s
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.default_timeout_s = default_timeout_s
        self.flush_timeout_s = flush_timeout_s
        if max_stream_chunks < 0 or max_stream_bytes < 0:
            raise ConfigurationError("max_stream_chunks and max_stream_bytes must be >= 0")
        self.max_stream_chunks = max_stream_chunks
        self.max_stream_bytes = max_stream_bytes
        self.stream_flush_s = stream_flush_s
        self.count_spans = count_spans
        self.headers = dict(headers or {})
        self.metadata = {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "python": platform.python_version(),
            **dict(metadata or {}),
        }
        self.instance_id = uuid.uuid4().hex
        self.stats = ClientStats()
        #: The error that ended :meth:`run` in a task/thread (e.g. AuthenticationError).
        self.last_error: BaseException | None = None

        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._stop_grace_s = 2.0
        self._registered = threading.Event()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    # --- public API ----------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        """True while connected and registered."""
        return self._registered.is_set()

    def wait_until_registered(self, timeout: float) -> bool:
        """Block (at most ``timeout`` s) until registered; for sync code and threads."""
        return self._registered.wait(timeout)

    async def wait_registered(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until registered, without blocking the loop."""
        deadline = time.monotonic() + timeout
        while not self._registered.is_set():
            if time.monotonic() >= deadline or (self._task is not None and self._task.done()):
                return False
            await asyncio.sleep(0.01)
        return True

    async def run(self) -> None:
        """Connect, register and serve until :meth:`stop`/:meth:`aclose`.

        Reconnects by itself; returns when stopped. Raises :class:`AuthenticationError`
        when the receiver refuses the API key (no retry).
        """
        if self._running:
            raise RuntimeError("this EndpointClient is already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        executor = ContextThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix="spanlink-endpoint"
        )
        flush_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spanlink-flush")
        runner = Runner(
            executor=executor,
            flush_executor=flush_executor,
            default_timeout_s=self.default_timeout_s,
            max_output_bytes=self.max_output_bytes,
            flush_timeout_s=self.flush_timeout_s,
            count_spans=self.count_spans,
        )
        dispatcher = Dispatcher(self, runner)
        attempt = 0
        try:
            while not self._stop_event.is_set():
                session = asyncio.ensure_future(self._session(dispatcher))
                stop_wait = asyncio.ensure_future(self._stop_event.wait())
                try:
                    await asyncio.wait({session, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop_wait.cancel()
                if not session.done():  # stopped while connected
                    await self._drain(session, dispatcher)
                    break
                registered = False
                try:
                    registered = session.result()
                except AuthenticationError as error:
                    logger.error("spanlink: %s", error)
                    raise
                except (OSError, ConnectionClosed, TimeoutError, asyncio.TimeoutError) as error:
                    logger.warning(
                        "spanlink: endpoint connection to %s failed or was lost: %s",
                        self.url,
                        error or type(error).__name__,
                    )
                except Exception as error:
                    logger.warning(
                        "spanlink: endpoint connection to %s failed: %s: %s",
                        self.url,
                        type(error).__name__,
                        error,
                    )
                if self._stop_event.is_set():
                    break
                attempt = 1 if registered else attempt + 1
                delay = backoff_delay(attempt, self.reconnect_initial_s, self.reconnect_max_s)
                logger.info("spanlink: reconnecting to %s in %.2f s", self.url, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
        finally:
            self._registered.clear()
            dispatcher.abandon()
            executor.shutdown(wait=False, cancel_futures=True)
            flush_executor.shutdown(wait=False, cancel_futures=True)
            self._running = False

    async def __aenter__(self) -> EndpointClient:
        """Start :meth:`run` as a task of the running loop; does not wait for the receiver."""
        self._stop_requested = False
        self._task = asyncio.ensure_future(self._run_logged())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, timeout: float = 5.0) -> bool:
        """Stop the task started by ``async with``; True when it ended within ``timeout``."""
        self._request_stop(timeout)
        task = self._task
        if task is None:
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            return False
        return True

    def start(self) -> EndpointClient:
        """Run the client in a background daemon thread (for sync applications)."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this EndpointClient is already started")
        self._stop_requested = False
        self._thread = threading.Thread(
            target=self._thread_main, name="spanlink-endpoint-client", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the client (thread or task), waiting at most ``timeout`` s.

        In-flight invocations are cancelled and answered ``cancelled`` while the
        connection is still open. True when the client stopped within the deadline.
        """
        deadline = time.monotonic() + timeout
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._request_stop, timeout)
        else:
            self._stop_requested = True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
            return not thread.is_alive()
        return True

    # --- internals -----------------------------------------------------------------------

    def _request_stop(self, timeout: float = 5.0) -> None:
        self._stop_requested = True
        # Leave part of the deadline for closing the connection and the loop.
        self._stop_grace_s = max(0.0, timeout * 0.5)
        if self._stop_event is not None:
            self._stop_event.set()

    async def _run_logged(self) -> None:
        try:
            await self.run()
        except BaseException as error:
            self.last_error = error
            if not isinstance(error, (AuthenticationError, asyncio.CancelledError)):
                logger.exception("spanlink: the endpoint client stopped on an error")

    def _thread_main(self) -> None:
        asyncio.run(self._run_logged())

    def _handshake_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _session(self, dispatcher: Dispatcher) -> bool:
        """One connection's life; returns whether it got registered."""
        conn = await Connection.open(
            self.url,
            self._handshake_headers(),
            self.stats,
            max_message_bytes=self.max_message_bytes,
            open_timeout_s=self.open_timeout_s,
            heartbeat_interval_s=self.heartbeat_interval_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
        )
        self._conn = conn
        registered = False
        heartbeat: asyncio.Task[None] | None = None
        try:
            accepted = await conn.register(self._register_message(), self.register_timeout_s)
            registered = True
            conn.output_limit = self.max_output_bytes
            if accepted.max_message_bytes is not None:
                # The receiver accepts less than we would send: keep results under its limit.
                room = max(accepted.max_message_bytes - 1024, 256)
                conn.output_limit = min(self.max_output_bytes, room)
            interval = self.heartbeat_interval_s
            if accepted.heartbeat_interval_s is not None:
                # The receiver says how often it expects traffic: never ping less often.
                interval = min(interval, accepted.heartbeat_interval_s)
            self._registered.set()
            self.stats.registrations += 1
            logger.info(
                "spanlink: endpoint registered %d function(s) at %s",
                len(self.registry),
                self.url,
            )
            alive = asyncio.Event()
            heartbeat = asyncio.ensure_future(
                conn.heartbeat(alive, interval, self.heartbeat_timeout_s)
            )
            async for raw in conn.ws:
                alive.set()
                await dispatcher.handle(conn, raw)
            return registered
        finally:
            self._registered.clear()
            self._conn = None
            if heartbeat is not None:
                heartbeat.cancel()
            # The receiver marks these failed when the connection goes; nothing to send.
            dispatcher.connection_lost()
            await conn.ws.close()

    def _register_message(self) -> Register:
        return Register(
            functions=self.registry.specs(),
            sdk_version=sdk_version(),
            environment=self.environment,
            sdk=SDK_NAME,
            instance_id=self.instance_id,
            metadata=self.metadata,
        )

    async def _drain(self, session: asyncio.Task[bool], dispatcher: Dispatcher) -> None:
        """On stop: cancel in-flight invocations, let them report, then close."""
        await dispatcher.stop(self._stop_grace_s)
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                await asyncio.wait_for(conn.ws.close(), 1.0)
        session.cancel()
        await asyncio.wait({session}, timeout=1.0)
        if session.done() and not session.cancelled():
            session.exception()  # retrieved: a closing error is expected here


def connect(
    url: str | None = None,
    api_key: str | None = None,
    environment: str | None = None,
    *,
    registry: Registry | None = None,
    **options: Any,
) -> EndpointClient:
    """A client serving the ``@endpoint`` functions to the receiver; not started yet.

    ``url`` defaults to ``SPANLINK_ENDPOINT`` (a base ``http(s)://`` URL becomes
    ``ws(s)://.../ws/endpoints``), ``api_key`` to ``SPANLINK_API_KEY``, ``environment`` to
    ``SPANLINK_ENVIRONMENT``; ``options`` are those of :class:`EndpointClient`. Then::

        client = connect().start()      # sync app: background thread; client.stop() at exit
        await connect().run()           # asyncio app: serve until cancelled or stopped
        async with connect() as client: # asyncio app: serve while the block runs
            ...

    Raises :class:`ConfigurationError` when no URL is given or set.
    """
    return EndpointClient(
        websocket_url(url),
        api_key=resolve_api_key(api_key),
        environment=resolve_environment(environment),
        registry=registry,
        **options,
    )
