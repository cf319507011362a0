"""SpanlinkProcessor beside other processors: deadlines, plugin hooks, isolation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import SpanlinkProcessor, test_context
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import get_plugin_manager, hookimpl


class BlockingExporter(SpanExporter):
    """An exporter that hangs until released: a receiver that never answers."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.wait(30)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.release.wait(30)
        return True


class RaisingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("receiver down")

    def shutdown(self) -> None:
        pass


def _provider(*processors: Any) -> TracerProvider:
    provider = TracerProvider()
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def test_beside_another_processor_and_global_provider_untouched() -> None:
    before = trace.get_tracer_provider()
    theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
    provider = _provider(
        SimpleSpanProcessor(theirs),
        SpanlinkProcessor(processor=SimpleSpanProcessor(ours), plugin_manager=get_plugin_manager()),
    )
    with test_context(run_id="r"), provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("k", "v")
    assert trace.get_tracer_provider() is before
    (their_span,) = theirs.get_finished_spans()
    (our_span,) = ours.get_finished_spans()
    assert their_span.attributes["k"] == "v" and our_span.attributes["k"] == "v"
    assert our_span.attributes["spanlink.test.run_id"] == "r"


def test_needs_exactly_one_destination() -> None:
    with pytest.raises(TypeError, match="exactly one of exporter"):
        SpanlinkProcessor()


def test_force_flush_and_shutdown_respect_their_deadline_with_a_hanging_exporter() -> None:
    exporter = BlockingExporter()
    processor = SpanlinkProcessor(
        exporter, plugin_manager=get_plugin_manager(), shutdown_timeout_millis=300
    )
    provider = _provider(processor)
    try:
        for _ in range(5):
            with provider.get_tracer("t").start_as_current_span("s"):
                pass
        started = time.monotonic()
        assert processor.force_flush(timeout_millis=200) is False
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        processor.shutdown()
        assert time.monotonic() - started < 1.5
        # After shutdown, ending spans is a no-op, never an error.
        with provider.get_tracer("t").start_as_current_span("late"):
            pass
    finally:
        exporter.release.set()


def test_an_exporter_that_raises_never_reaches_user_code() -> None:
    processor = SpanlinkProcessor(RaisingExporter(), plugin_manager=get_plugin_manager())
    provider = _provider(processor)
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    processor.force_flush(2000)
    processor.shutdown()


class DropsHealthChecks:
    @hookimpl
    def spanlink_span_filter(self, span: SpanRecord) -> bool | None:
        return False if span.name == "healthz" else None


class RedactsSecrets:
    @hookimpl
    def spanlink_redact(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        if "api_key" in attributes:
            return {"api_key": None, "redacted": True}
        return None


class CountsLetters:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord, context: Mapping[str, Any]) -> dict[str, Any]:
        return {"letters": len(span.name), "nested": {"not": "scalar"}, "tag": context.get("tag")}


class Broken:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> None:
        raise RuntimeError("plugin bug")


def _with_plugins(*plugins: Any, enrich: bool = False) -> tuple[TracerProvider, Any, Any]:
    manager = get_plugin_manager()
    for plugin in plugins:
        manager.register(plugin, name=type(plugin).__name__.lower())
    theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
    provider = _provider(
        SimpleSpanProcessor(theirs),
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(ours),
            plugin_manager=manager,
            enrich=enrich,
            plugin_context={"tag": "x"},
        ),
    )
    return provider, theirs, ours


def test_filter_and_redact_affect_only_our_export() -> None:
    provider, theirs, ours = _with_plugins(DropsHealthChecks(), RedactsSecrets())
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("healthz"):
        pass
    with tracer.start_as_current_span("call", attributes={"api_key": "sk-1", "keep": 1}):
        pass
    assert [s.name for s in theirs.get_finished_spans()] == ["healthz", "call"]
    assert theirs.get_finished_spans()[1].attributes["api_key"] == "sk-1"
    (call,) = ours.get_finished_spans()
    assert dict(call.attributes) == {"keep": 1, "redacted": True}
    assert call.context == theirs.get_finished_spans()[1].context


def test_enrich_writes_scalar_results_and_isolates_broken_plugins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, _, ours = _with_plugins(CountsLetters(), Broken(), enrich=True)
    with caplog.at_level(logging.ERROR, logger="spanlink.tracer"):
        for _ in range(3):
            with provider.get_tracer("t").start_as_current_span("abcd"):
                pass
    spans = ours.get_finished_spans()
    assert len(spans) == 3
    assert spans[0].attributes["spanlink.countsletters.letters"] == 4
    assert spans[0].attributes["spanlink.countsletters.tag"] == "x"
    assert "spanlink.countsletters.nested" not in spans[0].attributes
    assert caplog.text.count("plugin bug") == 1  # logged once, not per span


def test_without_enrich_the_enrichment_hooks_do_not_run() -> None:
    provider, _, ours = _with_plugins(CountsLetters(), enrich=False)
    with provider.get_tracer("t").start_as_current_span("abcd"):
        pass
    (span,) = ours.get_finished_spans()
    assert not any(key.startswith("spanlink.countsletters") for key in span.attributes)


class ReadsGenAIModel:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any]:
        return {"model": span.attributes.get("gen_ai.request.model", "none")}


def test_enrichment_hooks_see_normalized_attributes_and_export_keeps_the_originals() -> None:
    provider, _, ours = _with_plugins(ReadsGenAIModel(), enrich=True)
    attributes = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"}
    with provider.get_tracer("t").start_as_current_span("ChatCompletion", attributes=attributes):
        pass
    (span,) = ours.get_finished_spans()
    assert span.attributes["spanlink.readsgenaimodel.model"] == "gpt-4o"
    assert "gen_ai.request.model" not in span.attributes
    assert span.attributes["llm.model_name"] == "gpt-4o"
