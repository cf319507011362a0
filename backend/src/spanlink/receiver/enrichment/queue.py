"""A bounded, de-duplicating queue that releases a trace once it has been quiet (debounce).

Keys are ``(project_id, trace_id)``. Offering a key already waiting restarts its quiet
period instead of adding a second entry, so a trace whose spans arrive in many batches is
enriched once, after the last batch. A key being enriched is not handed out again until
:meth:`DebounceQueue.done`; offered meanwhile, it waits and is enriched again afterwards.

Used from one asyncio event loop (the receiver's); not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

__all__ = ["DebounceQueue", "TraceKey"]

#: ``(project id, trace id)``
TraceKey = tuple[int, str]


class DebounceQueue:
    """At most ``maxsize`` waiting traces, each released ``debounce`` s after its last offer."""

    def __init__(self, maxsize: int, debounce: float) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.debounce = max(0.0, debounce)
        # Insertion order is due order: every key waits the same debounce, and a re-offered
        # key is moved to the end.
        self._due: dict[TraceKey, float] = {}
        self._running: set[TraceKey] = set()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._due)

    @property
    def running(self) -> int:
        """Keys handed out and not yet marked done."""
        return len(self._running)

    def offer(self, key: TraceKey) -> bool:
        """Queue ``key`` (or restart its quiet period); False when the queue is full."""
        waiting = key in self._due
        if not waiting and len(self._due) >= self.maxsize:
            return False
        if waiting:
            del self._due[key]
        self._due[key] = time.monotonic() + self.debounce
        self._changed.set()
        return True

    def _next(self) -> tuple[TraceKey | None, float]:
        for key, due in self._due.items():
            if key not in self._running:
                return key, due
        return None, 0.0

    async def get(self) -> TraceKey:
        """Wait for the next key whose quiet period is over and mark it running."""
        while True:
            key, due = self._next()
            now = time.monotonic()
            if key is not None and due <= now:
                del self._due[key]
                self._running.add(key)
                return key
            self._changed.clear()
            timeout = None if key is None else due - now
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def done(self, key: TraceKey) -> None:
        """``key`` is enriched: it may be handed out again if offered meanwhile."""
        self._running.discard(key)
        self._changed.set()
