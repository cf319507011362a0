"""Count the spans an invocation produced in this process, for the result's ``span_count``.

A tiny ``SpanProcessor`` added once to the global SDK ``TracerProvider`` (beside the
processors already there; nothing is replaced). It counts ended spans only for the trace ids
of invocations in progress, so its cost on other spans is one dictionary lookup. Spans from
other processes (downstream services) are not counted: they are the receiver's to see.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

__all__ = ["SpanCounter", "span_counter"]


class SpanCounter(SpanProcessor):
    """Counts ended spans per watched trace id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}

    def watch(self, trace_id: int) -> None:
        """Start counting the spans of ``trace_id`` (call before any of them ends)."""
        with self._lock:
            self._counts.setdefault(trace_id, 0)

    def release(self, trace_id: int) -> int | None:
        """Stop counting ``trace_id``; returns how many of its spans ended meanwhile."""
        with self._lock:
            return self._counts.pop(trace_id, None)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_id in self._counts:
            with self._lock:
                if context.trace_id in self._counts:
                    self._counts[context.trace_id] += 1

    def shutdown(self) -> None:
        with self._lock:
            self._counts.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


_lock = threading.Lock()
_counters: weakref.WeakKeyDictionary[Any, SpanCounter] = weakref.WeakKeyDictionary()


def span_counter() -> SpanCounter | None:
    """The counter attached to the global provider (attached on first use); None when the
    global provider is not an SDK provider (then nothing is recorded anyway)."""
    provider = trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return None
    with _lock:
        counter = _counters.get(provider)
        if counter is None:
            counter = SpanCounter()
            add(counter)
            _counters[provider] = counter
    return counter
