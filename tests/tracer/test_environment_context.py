"""TRACEPARENT/BAGGAGE: a child process's spans join the parent's trace and test context."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from opentelemetry.sdk.trace import TracerProvider

from spanlink.tracer import context_environment, test_context

CHILD = textwrap.dedent(
    """
    import json
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from spanlink.tracer import configure

    exporter = InMemorySpanExporter()
    configure(processor=SimpleSpanProcessor(exporter))
    with trace.get_tracer("child").start_as_current_span("child work"):
        pass
    (span,) = exporter.get_finished_spans()
    print(json.dumps({
        "trace_id": format(span.context.trace_id, "032x"),
        "parent": format(span.parent.span_id, "016x") if span.parent else None,
        "attributes": dict(span.attributes or {}),
    }))
    """
)


def _run_child(env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in ("TRACEPARENT", "BAGGAGE")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env={**base, "SPANLINK_DISABLE_PLUGINS": "cost,anomaly", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_configure_in_a_child_joins_the_inherited_trace_and_test_context() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("parent")
    with test_context(run_id="run-1", case_id="case-1", result_id="res-1"):
        with tracer.start_as_current_span("parent work") as span:
            env = context_environment()
            trace_id = format(span.get_span_context().trace_id, "032x")
            span_id = format(span.get_span_context().span_id, "016x")
    assert set(env) >= {"TRACEPARENT", "BAGGAGE"}
    child = _run_child(env)
    assert child["trace_id"] == trace_id
    assert child["parent"] == span_id
    attributes = child["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["spanlink.test.run_id"] == "run-1"
    assert attributes["spanlink.test.case_id"] == "case-1"
    assert attributes["spanlink.test.result_id"] == "res-1"


def test_a_child_without_the_variables_starts_its_own_trace() -> None:
    child = _run_child({})
    assert child["parent"] is None
    attributes = child["attributes"]
    assert isinstance(attributes, dict)
    assert "spanlink.test.result_id" not in attributes
