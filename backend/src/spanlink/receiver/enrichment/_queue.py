"""A bounded, de-duplicating queue that releases a trace once it has been quiet (debounce).

Keys are ``(project_id, trace_id)``. Offering a key already waiting restarts its quiet
period instead of adding a second entry, so a trace whose spans arrive in many batches is
enriched once, after the last batch; a trace that never goes quiet (a long agent run) is
still released ``max_wait`` seconds after it was first offered. A key being enriched is not
handed out again until :meth:`DebounceQueue.done`; offered meanwhile, it waits and is
enriched again afterwards.

Used from one asyncio event loop (the receiver's); not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time

__all__ = ["DebounceQueue", "TraceKey"]

#: ``(project id, trace id)``
TraceKey = tuple[int, str]


class DebounceQueue:
    """At most ``maxsize`` waiting traces, each released ``debounce`` s after its last offer."""

    def __init__(self, maxsize: int, debounce: float, max_wait: float | None = None) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.debounce = max(0.0, debounce)
        self.max_wait = max(self.debounce, 2.0) if max_wait is None else max_wait
        # key -> (due, first offered, sequence number of its live heap item)
        self._entries: dict[TraceKey, tuple[float, float, int]] = {}
        # (due, sequence, key); items whose sequence is not the key's live one are stale.
        self._heap: list[tuple[float, int, TraceKey]] = []
        self._sequence = itertools.count()
        self._running: set[TraceKey] = set()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def running(self) -> int:
        """Keys handed out and not yet marked done."""
        return len(self._running)

    def offer(self, key: TraceKey) -> bool:
        """Queue ``key`` (or restart its quiet period); False when the queue is full."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.maxsize:
                return False
            first = now
        else:
            first = entry[1]
        due = min(now + self.debounce, first + self.max_wait)
        sequence = next(self._sequence)
        self._entries[key] = (due, first, sequence)
        heapq.heappush(self._heap, (due, sequence, key))
        if len(self._heap) > 2 * len(self._entries) + 64:  # drop stale items now and then
            self._heap = [(d, s, k) for k, (d, _, s) in self._entries.items()]
            heapq.heapify(self._heap)
        self._changed.set()
        return True

    def _take(self, now: float) -> tuple[TraceKey | None, float | None]:
        """A due key (marked running), else None and when the next one is due."""
        heap = self._heap
        deferred = []
        try:
            while heap:
                due, sequence, key = heap[0]
                entry = self._entries.get(key)
                if entry is None or entry[2] != sequence:
                    heapq.heappop(heap)  # stale
                elif key in self._running:
                    deferred.append(heapq.heappop(heap))
                elif due <= now:
                    heapq.heappop(heap)
                    del self._entries[key]
                    self._running.add(key)
                    return key, None
                else:
                    return None, due
            return None, None
        finally:
            for item in deferred:
                heapq.heappush(heap, item)

    async def get(self) -> TraceKey:
        """Wait for the next key whose quiet period is over and mark it running."""
        while True:
            now = time.monotonic()
            key, due = self._take(now)
            if key is not None:
                return key
            self._changed.clear()
            timeout = None if due is None else due - now
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def done(self, key: TraceKey) -> None:
        """``key`` is enriched: it may be handed out again if offered meanwhile."""
        self._running.discard(key)
        self._changed.set()
