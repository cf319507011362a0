"""Client-side database deadlines that hold even when the database stops answering.

``statement_timeout`` is enforced by the server, and TCP keepalives and
``tcp_user_timeout`` only notice a peer that stops acknowledging: a database (or a proxy,
or a network path) that accepts bytes and never answers keeps a request waiting forever.
So the receiver bounds its own waits: work done inside :func:`database_deadline` (one per
request on the request paths, one per transaction everywhere else) registers every
connection it waits on, and when the deadline passes a watchdog thread shuts those
connections' sockets down. The blocked wait then fails at once as a lost connection,
which the pool discards and ``database_errors`` answers as "database unavailable".

Connections are :class:`DeadlineConnection` (psycopg's, with the one wait it funnels every
operation through made deadline-aware); the engines create them in their ``do_connect``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

__all__ = ["DeadlineConnection", "database_deadline", "deadline_expired"]

_T = TypeVar("_T")


class _Scope:
    """One deadline and the connections waited on under it."""

    __slots__ = ("connections", "deadline", "expired", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.connections: set[DeadlineConnection] = set()


def _sever(connection: psycopg.Connection[Any]) -> None:
    """Shut the connection's socket down so that a wait blocked on it fails now."""
    try:
        fd = connection.fileno()
    except (psycopg.Error, ValueError, OSError):
        return  # closed already
    with contextlib.suppress(OSError):
        # A duplicate descriptor: shutdown acts on the socket itself, and closing the
        # duplicate leaves the connection's own descriptor to psycopg.
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that expires scopes in deadline order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Scope]] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def add(self, scope: _Scope) -> None:
        with self._lock:
            heapq.heappush(self._heap, (scope.deadline, next(self._counter), scope))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spanlink-db-deadline", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is scope:
                self._wake.notify()

    def register(self, scope: _Scope, connection: DeadlineConnection) -> bool:
        """Add a connection about to wait; False when the scope has expired already."""
        with self._lock:
            if scope.expired:
                return False
            scope.connections.add(connection)
            return True

    def unregister(self, scope: _Scope, connection: DeadlineConnection) -> None:
        """The wait is over: the connection may go back to the pool, never to be cut."""
        with self._lock:
            scope.connections.discard(connection)

    def finish(self, scope: _Scope) -> None:
        # Finished scopes stay in the heap until their time (no search to remove one).
        with self._lock:
            scope.connections.clear()

    def _run(self) -> None:
        with self._lock:
            while True:
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, scope = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                scope.expired = True
                doomed = list(scope.connections)
                scope.connections.clear()
                for connection in doomed:
                    _sever(connection)


_WATCHDOG = _Watchdog()
_local = threading.local()


def _current() -> _Scope | None:
    scope: _Scope | None = getattr(_local, "scope", None)
    return scope


@contextmanager
def database_deadline(seconds: float | None) -> Iterator[None]:
    """Bound every database wait of this thread inside the block to ``seconds`` in total.

    Nested deadlines keep the earlier one. ``None`` adds no deadline. A wait still blocked
    when the time is up fails as a lost connection (see the module docstring).
    """
    outer = _current()
    if seconds is None or (outer is not None and outer.deadline <= time.monotonic() + seconds):
        yield
        return
    scope = _Scope(seconds)
    _WATCHDOG.add(scope)
    _local.scope = scope
    try:
        yield
    finally:
        _local.scope = outer
        _WATCHDOG.finish(scope)


def deadline_expired() -> float | None:
    """The seconds of this thread's deadline if it has expired (else None)."""
    scope = _current()
    if scope is not None and (scope.expired or time.monotonic() >= scope.deadline):
        return scope.seconds
    return None


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits honour the thread's :func:`database_deadline`."""

    def wait(self, gen: PQGen[_T], *args: Any, **kwargs: Any) -> _T:
        """Run ``gen`` as psycopg does, registered with the current deadline."""
        scope = _current()
        if scope is None:
            return super().wait(gen, *args, **kwargs)
        if not _WATCHDOG.register(scope, self):
            _sever(self)  # out of time before this wait began: fail it at once
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(gen, *args, **kwargs)
        finally:
            _WATCHDOG.unregister(scope, self)
