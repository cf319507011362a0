"""One HTTP request under one deadline for the whole exchange, not per socket operation.

httpx timeouts bound each connect, write and read separately: a server trickling one byte
a second never trips a read timeout and can hold a request for as long as it likes. Here the
request runs on a short-lived worker thread while the caller waits for it at most until the
deadline. A request that outlives its deadline (or that ``cancel_all`` cuts, at shutdown) is
abandoned: the caller returns at once, its socket is shut down when it is known (always for a
new connection and once the headers arrived) and the worker stops between body chunks.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["Cancelled", "DeadlineExceeded", "InFlight"]

#: Most of a response body kept: receivers answer a few bytes; more is never needed.
_MAX_RESPONSE_BYTES = 1024 * 1024


class DeadlineExceeded(Exception):
    """The request did not complete before its deadline; it was abandoned."""


class Cancelled(Exception):
    """The request was cut by ``InFlight.cancel_all`` (shutdown)."""


class _Call:
    """One request on its worker thread."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> None:
        self._client = client
        self._url = url
        self._body = body
        self._headers = dict(headers)
        self._deadline = deadline
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._released = False  # the connection went back to the pool: never cut it then
        self.abandoned = False
        self.cancelled = False
        self.done = threading.Event()
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def _trace(self, name: str, info: Mapping[str, Any]) -> None:
        # httpcore reports each new connection; keep its socket so it can be cut.
        if name == "connection.connect_tcp.complete":
            self._remember(info.get("return_value"))

    def _remember(self, stream: Any) -> None:
        if stream is None:
            return
        try:
            sock = stream.get_extra_info("socket")
        except Exception:  # a transport without sockets: nothing to cut
            return
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                cut_now = self.abandoned
            if cut_now:
                self._cut_socket()

    def run(self) -> None:
        try:
            remaining = max(self._deadline - time.monotonic(), 0.001)
            with self._client.stream(
                "POST",
                self._url,
                content=self._body,
                headers=self._headers,
                timeout=remaining,
                extensions={"trace": self._trace},
            ) as response:
                self._remember(response.extensions.get("network_stream"))
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    if self.abandoned:
                        return  # leaving the block closes the connection
                    if size < _MAX_RESPONSE_BYTES:
                        chunks.append(chunk[: _MAX_RESPONSE_BYTES - size])
                        size += len(chunks[-1])
                with self._lock:
                    self._released = not self.abandoned
                headers = [
                    (k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"
                ]
                self.response = httpx.Response(
                    response.status_code,
                    headers=headers,
                    content=b"".join(chunks),
                    request=response.request,
                )
        except BaseException as error:  # handed to the caller, who decides
            self.error = error
        finally:
            self.done.set()

    def abandon(self, cancelled: bool) -> None:
        with self._lock:
            self.abandoned = True
            self.cancelled = self.cancelled or cancelled
        self.done.set()
        self._cut_socket()

    def _cut_socket(self) -> None:
        with self._lock:
            sock = None if self._released else self._socket
        if sock is not None:
            # shutdown() (unlike close()) wakes a thread blocked reading the socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class InFlight:
    """The requests one exporter has on the wire, so that shutdown can cut them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: set[_Call] = set()
        self._cancelled = False

    def post(
        self,
        client: httpx.Client,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> httpx.Response:
        """POST ``body``; the answer read in full, or an exception, by ``deadline``.

        Raises ``DeadlineExceeded`` when the deadline passes first, ``Cancelled`` when
        ``cancel_all`` cut it, or what httpx raised (``httpx.TransportError``...).
        """
        call = _Call(client, url, body, headers, deadline)
        with self._lock:
            if self._cancelled:
                raise Cancelled()
            self._calls.add(call)
        try:
            worker = threading.Thread(target=call.run, name="spanlink-exporter-http", daemon=True)
            worker.start()
            if not call.done.wait(max(deadline - time.monotonic(), 0.0)):
                call.abandon(cancelled=False)
            if call.cancelled:
                raise Cancelled()
            if call.abandoned:
                raise DeadlineExceeded()
            if call.error is not None:
                raise call.error
            assert call.response is not None
            return call.response
        finally:
            with self._lock:
                self._calls.discard(call)

    def cancel_all(self) -> None:
        """Cut every request on the wire now, and refuse new ones."""
        with self._lock:
            self._cancelled = True
            calls = list(self._calls)
        for call in calls:
            call.abandon(cancelled=True)

    def cancel_current(self) -> None:
        """Cut every request on the wire now; later requests are allowed."""
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.abandon(cancelled=True)
