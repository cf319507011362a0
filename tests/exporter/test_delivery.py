"""Delivery against a real HTTP receiver on loopback: gzip, headers, retries, deadlines."""

from __future__ import annotations

import email.utils
import gzip
import logging
import threading
import time
from typing import Any

import pytest
from exporter_helpers import export_once
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from spanlink.exporter import DropReason, SpanlinkExporter


def _exporter(receiver: Any, **kwargs: Any) -> SpanlinkExporter:
    kwargs.setdefault("backoff_initial", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return SpanlinkExporter(receiver.url, **kwargs)


def test_protobuf_gzip_auth_and_headers(receiver: Any, spans: list[ReadableSpan]) -> None:
    exporter = _exporter(receiver, api_key="sk-test", headers={"X-Tenant": "acme"})
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    (request,) = receiver.requests
    assert request.path == "/v1/traces"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.raw) == request.body  # really gzip on the wire
    assert len(request.raw) < len(request.body)
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["user-agent"].startswith("spanlink-exporter/")
    assert request.decode() == encode_spans(spans)
    stats = exporter.stats()
    assert stats.spans_exported == len(spans)
    assert stats.requests == 1
    assert stats.bytes_sent == len(request.raw)
    assert stats.spans_dropped_total == 0


def test_json_without_compression(receiver: Any, spans: list[ReadableSpan]) -> None:
    exporter = _exporter(receiver, encoding="json", compression="none")
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    (request,) = receiver.requests
    assert request.headers["content-type"] == "application/json"
    assert "content-encoding" not in request.headers
    assert request.raw.startswith(b'{"resourceSpans":[')
    assert request.decode() == encode_spans(spans)


def test_keep_alive_reuses_one_connection(receiver: Any, span_factory: Any) -> None:
    exporter = _exporter(receiver)
    try:
        for _ in range(3):
            assert exporter.export(span_factory(2)) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 3
    assert all(r.headers.get("connection", "keep-alive") != "close" for r in receiver.requests)


@pytest.mark.parametrize(
    "behavior",
    [
        {"status": 503},
        {"status": 502},
        {"status": 504},
        {"status": 408},
        {"status": 429},
        {"close": True},
    ],
    ids=["503", "502", "504", "408", "429", "connection-closed"],
)
def test_retryable_failures_are_retried(
    receiver: Any, spans: list[ReadableSpan], behavior: dict[str, Any], conftest_behavior: Any
) -> None:
    receiver.plan(conftest_behavior(**behavior), conftest_behavior(**behavior))
    exporter = _exporter(receiver)
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    assert len(receiver.requests) == 3
    assert receiver.delivered()[0].decode() == encode_spans(spans)
    stats = exporter.stats()
    assert stats.spans_retried == 2 * len(spans)
    assert stats.spans_exported == len(spans)
    assert stats.failed_requests == 2


def test_stalled_receiver_times_out_then_retry_succeeds(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.plan(conftest_behavior(stall=30))
    exporter = _exporter(receiver, timeout=3)
    try:
        # The first request is cut by the per-export deadline (3 s), so nothing is retried
        # within it; the export fails without waiting for the stalled answer.
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert time.monotonic() - started < 10
        assert exporter.stats().spans_dropped == {DropReason.UNDELIVERED: len(spans)}
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def test_connection_refused_is_retried_until_deadline(
    spans: list[ReadableSpan], receiver: Any
) -> None:
    url = receiver.url
    receiver.stop()
    exporter = SpanlinkExporter(
        url, timeout=1.0, backoff_initial=0.05, backoff_max=0.2, max_retries=100
    )
    result, elapsed = export_once(exporter, spans)
    assert result is SpanExportResult.FAILURE
    assert elapsed < 1.0 + 2.0  # the deadline bounds the call (2 s slack for a slow machine)
    stats = exporter.stats()
    assert stats.failed_requests >= 2  # it did retry
    assert stats.spans_dropped == {DropReason.UNDELIVERED: len(spans)}


def test_retries_stop_at_the_deadline(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.default = conftest_behavior(status=503)
    exporter = _exporter(receiver, timeout=1.0, max_retries=1000)
    started = time.monotonic()
    result, elapsed = export_once(exporter, spans)
    assert result is SpanExportResult.FAILURE
    assert len(receiver.requests) >= 3
    # None sent past the deadline (0.25 s for the request to reach the server's clock).
    assert all(r.at - started < 1.25 for r in receiver.requests)
    assert elapsed < 1.0 + 2.0


def test_max_retries_bounds_attempts(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.default = conftest_behavior(status=503)
    exporter = _exporter(receiver, max_retries=2)
    assert export_once(exporter, spans)[0] is SpanExportResult.FAILURE
    assert len(receiver.requests) == 3


def test_retry_after_seconds_is_respected(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.plan(conftest_behavior(status=429, headers={"Retry-After": "1"}))
    exporter = _exporter(receiver)
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    first, second = receiver.requests
    assert second.at - first.at >= 0.95  # waited what the server asked, not the 10 ms backoff


def test_retry_after_http_date_is_respected(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    receiver.plan(conftest_behavior(status=503, headers={"Retry-After": when}))
    exporter = _exporter(receiver)
    assert export_once(exporter, spans)[0] is SpanExportResult.SUCCESS
    first, second = receiver.requests
    assert second.at - first.at >= 0.9  # HTTP dates have 1 s resolution


def test_retry_after_beyond_deadline_gives_up_without_waiting(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.plan(conftest_behavior(status=429, headers={"Retry-After": "3600"}))
    exporter = _exporter(receiver, timeout=5)
    try:
        started = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert time.monotonic() - started < 5
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 1


def test_client_error_is_not_retried_and_logged_once(
    receiver: Any, span_factory: Any, conftest_behavior: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = conftest_behavior(
        status=400,
        headers={"content-type": "application/json"},
        body=b'{"code": 3, "message": "unknown attribute encoding"}',
    )
    exporter = _exporter(receiver)
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            for _ in range(3):
                assert exporter.export(span_factory(1)) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 3  # one per batch: no retry
    errors = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(errors) == 1
    assert "unknown attribute encoding" in errors[0].getMessage()
    assert exporter.stats().spans_dropped == {DropReason.REJECTED: 3 * 3}


def test_protobuf_status_error_message_is_read(
    receiver: Any, span_factory: Any, conftest_behavior: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # google.rpc.Status{code=16, message="bad api key"} in wire format.
    status = b"\x08\x10\x12\x0bbad api key"
    receiver.default = conftest_behavior(status=401, body=status)
    exporter = _exporter(receiver)
    try:
        with caplog.at_level(logging.ERROR, logger="spanlink.exporter"):
            assert exporter.export(span_factory(1)) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert any("bad api key" in r.getMessage() for r in caplog.records)


def test_transient_failures_logged_once_then_again_after_recovery(
    receiver: Any, span_factory: Any, conftest_behavior: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan(*[conftest_behavior(status=503)] * 4)
    exporter = _exporter(receiver, max_retries=1)
    try:
        with caplog.at_level(logging.INFO, logger="spanlink.exporter"):
            assert exporter.export(span_factory(1)) is SpanExportResult.FAILURE
            assert exporter.export(span_factory(1)) is SpanExportResult.FAILURE
            assert exporter.export(span_factory(1)) is SpanExportResult.SUCCESS
            receiver.plan(conftest_behavior(status=503), conftest_behavior(status=503))
            assert exporter.export(span_factory(1)) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("answered HTTP 503" in m for m in messages) == 2  # once per outage, not per batch
    assert sum("delivering to" in m for m in messages) == 1


def test_partial_success_is_logged_with_rejected_count(
    receiver: Any,
    spans: list[ReadableSpan],
    conftest_behavior: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "span name too long"
    receiver.plan(conftest_behavior(body=response.SerializeToString()))
    exporter = _exporter(receiver)
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    (record,) = [r for r in caplog.records if "rejected 2 span" in r.getMessage()]
    assert "span name too long" in record.getMessage()
    stats = exporter.stats()
    assert stats.spans_dropped == {DropReason.PARTIALLY_REJECTED: 2}
    assert stats.spans_exported == len(spans) - 2


def test_partial_success_json(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.plan(
        conftest_behavior(
            headers={"content-type": "application/json"},
            body=b'{"partialSuccess": {"rejectedSpans": "3", "errorMessage": "quota"}}',
        )
    )
    exporter = _exporter(receiver, encoding="json")
    try:
        exporter.export(spans)
    finally:
        exporter.shutdown()
    assert exporter.stats().spans_dropped == {DropReason.PARTIALLY_REJECTED: 3}


def test_shutdown_interrupts_backoff(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.default = conftest_behavior(status=503, headers={"Retry-After": "50"})
    exporter = _exporter(receiver, timeout=120)
    results: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: results.append(exporter.export(spans)))
    worker.start()
    while not receiver.requests:
        time.sleep(0.01)
    time.sleep(0.1)  # now inside the 50 s Retry-After wait
    started = time.monotonic()
    exporter.shutdown()
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 5  # far from the 50 s wait
    assert results == [SpanExportResult.FAILURE]
    assert exporter.stats().spans_dropped == {DropReason.SHUTDOWN: len(spans)}
    assert exporter.export(spans) is SpanExportResult.FAILURE  # after shutdown: refused, counted
    assert len(receiver.requests) == 1


def test_no_network_at_construction(receiver: Any) -> None:
    exporter = SpanlinkExporter(receiver.url)
    assert exporter.force_flush(100) is True
    exporter.shutdown()
    assert receiver.requests == []


def test_concurrent_exports_from_many_threads(receiver: Any, span_factory: Any) -> None:
    exporter = _exporter(receiver)
    batches = [span_factory(3) for _ in range(8)]
    results: list[SpanExportResult] = []
    threads = [
        threading.Thread(target=lambda b=batch: results.append(exporter.export(b)))
        for batch in batches
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * len(batches)
    sent = sorted(
        (s.context.trace_id.to_bytes(16, "big"), s.context.span_id.to_bytes(8, "big"))
        for batch in batches
        for s in batch
    )
    assert sorted((s.trace_id, s.span_id) for s in receiver.delivered_spans()) == sent
    assert exporter.stats().spans_exported == len(sent)
