"""``SpanCollector``: keeps the spans each running test has finished, in-process.

It is one more ``SpanProcessor`` on the provider: ``on_start`` stamps the pytest phase (and
the result id, for spans the ``SpanlinkProcessor`` may not see), ``on_end`` files the span
under its result id while that test runs. Bounded per test; nothing kept after the test.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spanlink.tracer import current_test_context
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.semconv import SPANLINK_TEST_PHASE, SPANLINK_TEST_RESULT_ID

__all__ = ["MAX_SPANS_PER_TEST", "SpanCollector", "TestSpans", "current_phase", "phase"]

#: The most spans kept in-process for one test; later ones are counted, not kept.
MAX_SPANS_PER_TEST = 10_000

phase: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spanlink_pytest_phase", default=None
)


def current_phase() -> str | None:
    """The pytest phase running in this context, or None."""
    return phase.get()


@dataclass(slots=True)
class TestSpans:
    """The spans one test finished so far."""

    __test__ = False

    spans: list[ReadableSpan] = field(default_factory=list)
    dropped: int = 0

    def records(self) -> list[SpanRecord]:
        """The spans as ``SpanRecord``s, in the order they finished."""
        return [SpanRecord.from_readable_span(span) for span in self.spans]


class SpanCollector(SpanProcessor):
    """Files finished spans under the result id of the test that made them."""

    def __init__(self, max_spans: int = MAX_SPANS_PER_TEST) -> None:
        self._open: dict[str, TestSpans] = {}
        self._lock = threading.Lock()
        self._max = max_spans

    def open(self, result_id: str) -> TestSpans:
        """Start keeping spans for a test."""
        spans = TestSpans()
        with self._lock:
            self._open[result_id] = spans
        return spans

    def close(self, result_id: str) -> TestSpans:
        """Stop keeping spans for a test; returns what it kept."""
        with self._lock:
            return self._open.pop(result_id, None) or TestSpans()

    def get(self, result_id: str) -> TestSpans | None:
        """The spans kept so far for a running test."""
        return self._open.get(result_id)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        current = phase.get()
        attributes = span.attributes or {}
        if current is not None and SPANLINK_TEST_PHASE not in attributes:
            span.set_attribute(SPANLINK_TEST_PHASE, current)
        if SPANLINK_TEST_RESULT_ID not in attributes:
            test = current_test_context()
            if test is not None and test.result_id is not None:
                span.set_attribute(SPANLINK_TEST_RESULT_ID, test.result_id)

    def on_end(self, span: ReadableSpan) -> None:
        result_id = (span.attributes or {}).get(SPANLINK_TEST_RESULT_ID)
        if not isinstance(result_id, str):
            return
        kept = self._open.get(result_id)
        if kept is None:
            return
        with self._lock:
            if len(kept.spans) < self._max:
                kept.spans.append(span)
            else:
                kept.dropped += 1

    def shutdown(self) -> None:
        with self._lock:
            self._open.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
