"""What ``SpanlinkProcessor``'s docstring and README promise the other processors see: the
context attributes stamped at ``on_start`` reach every exporter; redaction only ours."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import SpanlinkProcessor, session, test_context
from spanlink.tracer.plugins import get_plugin_manager

STAMPED = {
    "spanlink.test.run_id": "run-42",
    "spanlink.test.case_id": "case-1",
    "session.id": "s-1",
    "user.id": "u-1",
    "deployment.environment.name": "staging",
}


def test_context_attributes_reach_processors_added_before_and_after() -> None:
    before, after, ours = InMemorySpanExporter(), InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(before))
    provider.add_span_processor(
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(ours),
            plugin_manager=get_plugin_manager(),
            span_attributes={"deployment.environment.name": "staging"},
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(after))
    tracer = provider.get_tracer("other-instrumentation")
    with test_context(run_id="run-42", case_id="case-1"), session(session_id="s-1", user_id="u-1"):
        with tracer.start_as_current_span("llm call"):
            pass
    for exporter in (before, after, ours):
        (span,) = exporter.get_finished_spans()
        for key, value in STAMPED.items():
            assert span.attributes[key] == value, (key, exporter)
