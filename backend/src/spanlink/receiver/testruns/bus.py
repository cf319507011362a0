"""Receiver-to-receiver messages over Postgres ``LISTEN``/``NOTIFY``.

Receivers share nothing but the database, so a test run started through one receiver reaches
an endpoint connected to another through a notification on one channel. Payloads are small
JSON objects of ids only (the data itself is read from the tables, under row-level
security), well below Postgres' 8000-byte notification limit. A notification is sent inside
the transaction that wrote the data, so it is delivered only once that data is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, text

__all__ = ["CHANNEL", "NotificationBus", "notify"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: The one channel every receiver listens on.
CHANNEL = "spanlink_testruns"

Handler = Callable[[dict[str, Any]], Awaitable[None]]


def notify(connection: Connection, payload: dict[str, Any]) -> None:
    """Queue a notification in the connection's transaction (sent at commit)."""
    connection.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANNEL, "payload": json.dumps(payload, separators=(",", ":"))},
    )


class NotificationBus:
    """Listens on :data:`CHANNEL` with one psycopg async connection; reconnects on loss.

    Each notification's JSON payload is handed to ``handler`` in its own task; a payload that
    is not JSON, or a handler that raises, is logged and skipped.
    """

    def __init__(self, database_url: str, handler: Handler, connect_timeout: int = 3) -> None:
        self.database_url = database_url
        self.handler = handler
        self.connect_timeout = connect_timeout
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start listening in a background task (returns at once)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def wait_listening(self, timeout: float) -> bool:
        """True once LISTEN is in effect (within ``timeout`` seconds)."""
        try:
            await asyncio.wait_for(self.listening.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop listening; returns within about ``timeout`` seconds."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
        pending = list(self._handlers)
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.database_url,
                    autocommit=True,
                    connect_timeout=self.connect_timeout,
                    application_name="spanlink-receiver-bus",
                )
            except (psycopg.Error, OSError) as error:
                logger.warning("spanlink: cannot listen for receiver notifications: %s", error)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 5.0)
                continue
            try:
                await connection.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                delay = 0.1
                async for notification in connection.notifies():
                    self._dispatch(notification.payload)
            except psycopg.Error as error:
                logger.warning("spanlink: receiver notifications interrupted: %s", error)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 1.0)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def _dispatch(self, raw: str) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            logger.warning("spanlink: ignoring a notification that is not JSON: %.200r", raw)
            return
        if not isinstance(payload, dict):
            return
        task = asyncio.ensure_future(self._handle(payload))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, payload: dict[str, Any]) -> None:
        try:
            await self.handler(payload)
        except Exception:
            logger.exception("spanlink: handling notification %r failed", payload.get("op"))
