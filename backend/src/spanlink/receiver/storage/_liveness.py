"""Whether a pooled connection is still usable, told at checkout without a round trip.

The pool's usual pre-ping sends ``SELECT 1`` and waits for the answer on every checkout: a
round trip per request, as long as a small read. But a connection the server closed
(a restart, ``pg_terminate_backend``, an idle timeout, a proxy dropping it) says so on its
own socket: Postgres sends its termination notice and closes, so the socket turns
readable (the notice, then end of file). An idle connection otherwise has nothing to read:
every answer was read to its end before it went back to the pool. So a checkout looks at
the socket (no wait): readable, or closed, or mid-transaction means the pool replaces it
with a new connection; quiet means it is used as it is.

What a pre-ping caught and this cannot: a peer gone without closing (a partition, a dead
host). A pre-ping would wait on it as a query does; either way the client-side deadline
(``_deadline``) ends the wait, the connection is discarded and the request answers 503.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg import pq
from sqlalchemy import Engine, event

__all__ = ["check_on_checkout", "looks_alive"]


def looks_alive(connection: psycopg.Connection[Any]) -> bool:
    """Whether the idle connection looks usable: open, outside a transaction, and nothing
    waiting on its socket (the server says nothing unasked but that it is closing)."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        return not _readable(pgconn.socket)
    except (OSError, ValueError, psycopg.Error):
        return False


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (or is at its end), without waiting."""
    if hasattr(select, "poll"):  # any descriptor number
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # Windows: no poll, sockets only
    return bool(readable)


def check_on_checkout(engine: Engine) -> None:
    """Replace (instead of handing out) a pooled connection of ``engine`` that does not
    :func:`look alive <looks_alive>`; use with ``pool_pre_ping=False``."""

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not looks_alive(dbapi_connection):
            # The pool invalidates this connection and checks out a new one.
            raise sqlalchemy.exc.DisconnectionError("the pooled connection was closed")
