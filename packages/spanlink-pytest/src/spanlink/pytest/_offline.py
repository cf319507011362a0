"""The ``spanlink`` fixture without ``--spanlink``: scores and evaluators still work, and
``spans()`` sees the test's spans through a collector installed on first use. Nothing is
reported and nothing is exported."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from spanlink.pytest._collector import SpanCollector
from spanlink.pytest._outcome import inputs_of
from spanlink.pytest._state import TestState

__all__ = ["offline_state"]

_lock = threading.Lock()
_collector: SpanCollector | None = None


def _installed() -> SpanCollector | None:
    global _collector
    with _lock:
        if _collector is None:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider

            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                from spanlink.pytest._ids import PrivateIdGenerator

                trace.set_tracer_provider(TracerProvider(id_generator=PrivateIdGenerator()))
                provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                return None  # a non-SDK provider: there is nothing to collect from
            _collector = SpanCollector()
            provider.add_span_processor(_collector)
        return _collector


@contextmanager
def offline_state(item: pytest.Item) -> Iterator[TestState]:
    """A local test state for the duration of the fixture."""
    from spanlink.tracer import test_context

    state = TestState(
        result_id=uuid.uuid4().hex, run_id=None, case_id=item.nodeid, inputs=inputs_of(item)
    )
    collector = _installed()
    if collector is not None:
        state.spans = collector.open(state.result_id)
    try:
        with test_context(case_id=state.case_id, result_id=state.result_id):
            yield state
    finally:
        if collector is not None:
            collector.close(state.result_id)
