"""SpanRecord from real SDK spans; Trace tree building."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from spanlink.tracer.model import SpanRecord, Trace


def _record(span_id: str, parent: str | None, start: int, trace_id: str = "t" * 32) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=span_id,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 10,
    )


def test_from_readable_span_round_trips_everything() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope-x", "1.2")
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"why": "because"})
        with tracer.start_as_current_span(
            "child", kind=SpanKind.CLIENT, links=[link], attributes={"n": 1, "l": [1, 2]}
        ) as child:
            child.add_event("evt", {"k": "v"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    child_span, parent_span = exporter.get_finished_spans()
    record = SpanRecord.from_readable_span(child_span)
    ctx = parent_span.get_span_context()
    assert record.trace_id == f"{ctx.trace_id:032x}"
    assert record.parent_span_id == f"{ctx.span_id:016x}"
    assert len(record.span_id) == 16
    assert record.kind == "CLIENT"
    assert record.status_code == "ERROR" and record.status_message == "boom"
    assert record.is_error
    assert record.attributes == {"n": 1, "l": (1, 2)}
    assert record.events[0].name == "evt" and record.events[0].attributes == {"k": "v"}
    assert record.links[0].span_id == f"{ctx.span_id:016x}"
    assert record.links[0].attributes == {"why": "because"}
    assert record.resource["service.name"] == "svc"
    assert (record.scope_name, record.scope_version) == ("scope-x", "1.2")
    assert record.duration_ns == child_span.end_time - child_span.start_time
    assert SpanRecord.from_readable_span(parent_span).parent_span_id is None


def test_tree_orders_children_by_start_and_treats_missing_parents_as_roots() -> None:
    spans = [
        _record("c2", "root", 30),
        _record("root", None, 0),
        _record("c1", "root", 20),
        _record("gc", "c1", 25),
        _record("orphan", "gone", 5),
    ]
    trace = Trace.from_spans(spans)
    assert [s.span_id for s in trace.roots] == ["root", "orphan"]
    assert [s.span_id for s in trace.children("root")] == ["c1", "c2"]
    assert [(d, s.span_id) for d, s in trace.walk()] == [
        (0, "root"),
        (1, "c1"),
        (2, "gc"),
        (1, "c2"),
        (0, "orphan"),
    ]
    assert trace.duration_ns == 40
    assert trace.get("gc") is spans[3]


def test_cycles_and_self_parents_never_loop_or_lose_spans() -> None:
    spans = [_record("a", "b", 1), _record("b", "a", 2), _record("s", "s", 3)]
    trace = Trace.from_spans(spans)
    assert sorted(s.span_id for _, s in trace.walk()) == ["a", "b", "s"]


def test_from_spans_rejects_mixed_or_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Trace.from_spans([])
    with pytest.raises(ValueError, match="2 traces"):
        Trace.from_spans([_record("a", None, 0), _record("b", None, 0, trace_id="u" * 32)])
