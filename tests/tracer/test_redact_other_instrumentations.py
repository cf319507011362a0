"""The client-side ``spanlink_redact`` hook sees spans of every instrumentation, not only
ours: an OpenInference-style span made with a plain OpenTelemetry tracer is redacted
before SpanlinkProcessor exports it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import SpanlinkProcessor
from spanlink.tracer.plugins import get_plugin_manager, hookimpl

SECRET = "alice.smith@example.com"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


class RedactsEmails:
    """What a user's redaction plugin does: scrub emails from every string value."""

    def __init__(self) -> None:
        self.seen: list[set[str]] = []

    @hookimpl
    def spanlink_redact(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        self.seen.append(set(attributes))
        changed = {}
        for key, value in attributes.items():
            if isinstance(value, str) and _EMAIL.search(value):
                changed[key] = _EMAIL.sub("[REDACTED:email]", value)
            elif isinstance(value, (list, tuple)) and any(
                isinstance(item, str) and _EMAIL.search(item) for item in value
            ):
                changed[key] = [_EMAIL.sub("[REDACTED:email]", str(item)) for item in value]
        return changed or None


@pytest.mark.parametrize("enrich", [False, True])
def test_openinference_span_from_a_plain_tracer_is_redacted(enrich: bool) -> None:
    plugin = RedactsEmails()
    manager = get_plugin_manager()
    manager.register(plugin, name="redactsemails")
    theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    provider.add_span_processor(
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(ours), plugin_manager=manager, enrich=enrich
        )
    )
    # As an OpenInference instrumentor writes it, with its own tracer, no spanlink API.
    tracer = provider.get_tracer("openinference.instrumentation.openai", "0.1.0")
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": f"My email is {SECRET}, remember it",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": f"Noted: {SECRET}",
        "input.value": json.dumps({"messages": [{"role": "user", "content": SECRET}]}),
        "input.mime_type": "application/json",
        "tag.tags": ["ok", SECRET],
    }
    with tracer.start_as_current_span("ChatCompletion", attributes=attributes):
        pass
    provider.shutdown()

    (exported,) = ours.get_finished_spans()
    assert SECRET not in json.dumps(dict(exported.attributes or {}))
    assert exported.attributes is not None
    assert exported.attributes["llm.input_messages.0.message.content"] == (
        "My email is [REDACTED:email], remember it"
    )
    assert exported.attributes["llm.model_name"] == "gpt-4o-mini"
    assert exported.instrumentation_scope is not None
    assert exported.instrumentation_scope.name == "openinference.instrumentation.openai"
    # The hook saw the instrumentor's own keys; the other processor's export is its own.
    assert "llm.input_messages.0.message.content" in plugin.seen[0]
    (their_span,) = theirs.get_finished_spans()
    assert their_span.attributes is not None
    assert SECRET in str(their_span.attributes["llm.input_messages.0.message.content"])
