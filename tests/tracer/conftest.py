"""Shared tracing fixtures for ``tests/tracer``.

OpenTelemetry lets a process set the global tracer provider only once, so the whole test
session shares ONE SDK ``TracerProvider`` (set globally by the ``tracer_provider`` fixture
the first time it is used, or taken over if an SDK provider is already global) with a
``SimpleSpanProcessor(InMemorySpanExporter())`` on it. Tests ask for:

- ``spans``: the in-memory exporter, cleared before the test; ``spans.get_finished_spans()``
  returns what ended during the test.
- ``tracer_provider``: the global SDK provider, to add a processor of a test's own
  (remove nothing from it; use a processor that only the test looks at).

Never call ``trace.set_tracer_provider`` in a test: it is ignored after the first call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_helpers import global_sdk_provider

_state: dict[str, object] = {}


def _session_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    if "provider" not in _state:
        provider = global_sdk_provider()
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _state["provider"] = provider
        _state["exporter"] = exporter
    return _state["provider"], _state["exporter"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def tracer_provider() -> TracerProvider:
    """The session-wide global SDK TracerProvider."""
    return _session_provider()[0]


@pytest.fixture(scope="session")
def memory_exporter(tracer_provider: TracerProvider) -> InMemorySpanExporter:
    """The session-wide in-memory exporter fed by the global provider."""
    return _session_provider()[1]


@pytest.fixture
def spans(memory_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter, emptied before (and after) the test."""
    memory_exporter.clear()
    yield memory_exporter
    memory_exporter.clear()
