"""Size cap: bodies are split, every span arrives exactly once, oversized spans are truncated."""

from __future__ import annotations

from typing import Any

from exporter_helpers import export_once
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext

from spanlink.exporter import TRUNCATION_MARKER, DropReason, SpanlinkExporter


def _sdk_ids(spans: list[ReadableSpan]) -> list[tuple[bytes, bytes]]:
    return sorted(
        (s.context.trace_id.to_bytes(16, "big"), s.context.span_id.to_bytes(8, "big"))
        for s in spans
    )


def _ids(spans: list[Any]) -> list[tuple[bytes, bytes]]:
    return sorted((s.trace_id, s.span_id) for s in spans)


def test_big_batch_is_split_under_the_cap_and_every_span_arrives_once(
    receiver: Any, span_factory: Any
) -> None:
    for encoding in ("protobuf", "json"):
        receiver.requests.clear()
        spans = span_factory(60, message_size=2000)  # 180 spans, about 2 KB each
        cap = 32 * 1024
        exporter = SpanlinkExporter(receiver.url, encoding=encoding, max_body_bytes=cap)
        assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
        assert len(receiver.requests) > 5
        assert all(len(r.body) <= cap for r in receiver.requests)  # cap on the encoded body
        delivered = receiver.delivered_spans()
        assert len(delivered) == len(spans)
        assert _ids(delivered) == _sdk_ids(spans)  # each exactly once
        # Grouping survives splitting: every request still carries resource and scope.
        for request in receiver.requests:
            for rs in request.decode().resource_spans:
                assert any(kv.key == "service.name" for kv in rs.resource.attributes)
        assert exporter.stats().requests == len(receiver.requests)


def _span(attributes: dict[str, Any], events: list[Event] | None = None) -> ReadableSpan:
    return ReadableSpan(
        "big",
        context=SpanContext(0xABC, 0xDEF, is_remote=False),
        resource=Resource({"service.name": "svc"}),
        attributes=attributes,
        events=events or [],
        start_time=1,
        end_time=2,
    )


def test_single_oversized_span_is_truncated_with_a_marker(receiver: Any) -> None:
    cap = 8 * 1024
    span = _span(
        {"gen_ai.input.messages": "i" * 20_000, "gen_ai.output.messages": "o" * 6_000, "n": 7},
        [Event("log", {"text": "e" * 9_000}, 5)],
    )
    for encoding in ("protobuf", "json"):
        receiver.requests.clear()
        exporter = SpanlinkExporter(receiver.url, encoding=encoding, max_body_bytes=cap)
        try:
            assert exporter.export([span]) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        (request,) = receiver.requests
        assert len(request.body) <= cap
        (sent,) = receiver.delivered_spans()
        values = {kv.key: kv.value for kv in sent.attributes}
        assert values["n"].int_value == 7  # untouched
        text = values["gen_ai.input.messages"].string_value
        assert text.startswith("iii") and text.endswith(" bytes by spanlink]")
        assert TRUNCATION_MARKER.split("{")[0] in text
        # One common cap: the smaller values keep content too, the event's included.
        assert values["gen_ai.output.messages"].string_value.startswith("ooo")
        assert sent.events[0].attributes[0].value.string_value.startswith("eee")
        stats = exporter.stats()
        assert stats.spans_truncated == 1
        assert stats.spans_exported == 1
        assert stats.spans_dropped_total == 0


def test_span_that_cannot_fit_is_dropped_and_counted(receiver: Any) -> None:
    # 400 integer attributes: nothing to truncate, far above a 1 KB cap.
    span = _span({f"k{i}": i for i in range(400)})
    small = _span({"ok": 1})
    exporter = SpanlinkExporter(receiver.url, max_body_bytes=1024)
    try:
        assert exporter.export([span, small]) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.delivered_spans()) == 1  # the small one still went
    assert exporter.stats().spans_dropped == {DropReason.TOO_LARGE: 1}


def test_413_from_the_receiver_halves_the_batch(
    receiver: Any, span_factory: Any, conftest_behavior: Any
) -> None:
    spans = span_factory(10)
    receiver.plan(conftest_behavior(status=413), conftest_behavior(status=413))
    exporter = SpanlinkExporter(receiver.url)
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    statuses = [r.status for r in receiver.requests]
    assert statuses[:2] == [413, 413]
    assert _ids(receiver.delivered_spans()) == _sdk_ids(spans)


def test_413_for_a_single_span_drops_it(receiver: Any, conftest_behavior: Any) -> None:
    receiver.default = conftest_behavior(status=413)
    exporter = SpanlinkExporter(receiver.url)
    try:
        assert exporter.export([_span({"a": 1})]) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 1
    assert exporter.stats().spans_dropped == {DropReason.TOO_LARGE: 1}


def test_unencodable_attribute_is_skipped_not_the_span(receiver: Any) -> None:
    span = _span({"ok": "yes", "weird": object()})  # SDK would refuse it; a custom span may not
    exporter = SpanlinkExporter(receiver.url)
    try:
        assert exporter.export([span]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    (sent,) = receiver.delivered_spans()
    assert [kv.key for kv in sent.attributes] == ["ok"]
