"""The ``error_span`` finding names the error type once, however the span spells it."""

from __future__ import annotations

from typing import Any

import pytest

from spanlink.plugins.anomaly import plugin as anomaly_plugin
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import call_each, get_plugin_manager


def _message(span: SpanRecord) -> str:
    manager = get_plugin_manager()
    manager.register(anomaly_plugin, name="anomaly")
    results, errors = call_each(manager, "spanlink_enrich_span", span=span, context={})
    assert not errors, errors
    span_results = {span.span_id: results}
    results, errors = call_each(
        manager,
        "spanlink_enrich_trace",
        trace=Trace.from_spans([span]),
        span_results=span_results,
        context={},
    )
    assert not errors, errors
    [found] = [f for f in results["anomaly"]["anomalies"] if f["rule"] == "error_span"]
    message: str = found["message"]
    return message


@pytest.mark.parametrize(
    ("error_type", "status_message", "expected"),
    [
        # The OpenTelemetry SDK writes "<type>: <message>" as the status description.
        ("ValueError", "ValueError: bad tool", "ValueError: bad tool"),
        ("builtins.ValueError", "ValueError: bad tool", "ValueError: bad tool"),
        ("openai.RateLimitError", "openai.RateLimitError: slow", "openai.RateLimitError: slow"),
        ("ValueError", "ValueError", "ValueError"),
        ("ValueError", "bad tool", "ValueError: bad tool"),
        ("TimeoutError", None, "TimeoutError"),
        (None, "ValueError: bad tool", "ValueError: bad tool"),
        ("KeyError", "KeyErrors happen", "KeyError: KeyErrors happen"),
    ],
)
def test_error_type_is_not_repeated(
    make_span: Any, error_type: str | None, status_message: str | None, expected: str
) -> None:
    attributes = {"error.type": error_type} if error_type else {}
    span = make_span("tool", attributes, status="ERROR", status_message=status_message)
    assert _message(span) == f"'tool' failed: {expected}"
