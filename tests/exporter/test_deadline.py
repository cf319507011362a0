"""One deadline for the whole export, whatever the receiver does, and logs that say what
really happened. Bounds are asserted with slack for a loaded machine; they are not timings."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from exporter_helpers import export_once
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from spanlink.exporter import DropReason, SpanlinkExporter

_SLACK = 2.0  # seconds a loaded machine may add to a deadline


def _spool_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".spool"))


@pytest.mark.parametrize("body_only", [False, True], ids=["headers", "body"])
def test_trickling_receiver_cannot_stretch_the_deadline(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any, body_only: bool
) -> None:
    # One byte every 0.2 s of a ~450-byte answer: ~90 s, no read ever waits 2 s.
    receiver.default = conftest_behavior(trickle=0.2, trickle_body_only=body_only)
    exporter = SpanlinkExporter(receiver.url, timeout=2.0, max_retries=0)
    result, elapsed = export_once(exporter, spans)
    assert result is SpanExportResult.FAILURE
    assert elapsed < 2.0 + _SLACK
    assert exporter.stats().spans_dropped == {DropReason.UNDELIVERED: len(spans)}


def test_trickled_batch_is_spooled_within_the_deadline(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any, tmp_path: Path
) -> None:
    receiver.default = conftest_behavior(trickle=0.2)
    exporter = SpanlinkExporter(
        receiver.url, timeout=2.0, spool_dir=tmp_path, backoff_initial=300, backoff_max=600
    )
    result, elapsed = export_once(exporter, spans)
    assert result is SpanExportResult.SUCCESS  # kept on disk
    assert elapsed < 2.0 + _SLACK
    assert exporter.stats().spans_spooled == len(spans)
    assert len(_spool_files(tmp_path)) == 1


def test_abandoned_request_does_not_linger(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any
) -> None:
    receiver.default = conftest_behavior(trickle=0.2)
    exporter = SpanlinkExporter(receiver.url, timeout=1.0, max_retries=0)
    try:
        exporter.export(spans)
        # The worker of the abandoned request has its socket cut: it ends too.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            t.name == "spanlink-exporter-http" for t in threading.enumerate()
        ):
            time.sleep(0.05)
        assert not [t for t in threading.enumerate() if t.name == "spanlink-exporter-http"]
    finally:
        exporter.shutdown()


def test_retry_after_beyond_the_deadline_spools_and_says_so(
    receiver: Any,
    spans: list[ReadableSpan],
    conftest_behavior: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.default = conftest_behavior(status=503, headers={"Retry-After": "3600"})
    exporter = SpanlinkExporter(
        receiver.url, timeout=5.0, spool_dir=tmp_path, backoff_initial=300, backoff_max=600
    )
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            started = time.monotonic()
            assert exporter.export(spans) is SpanExportResult.SUCCESS  # spooled, not failed
            assert time.monotonic() - started < 5.0
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 1
    assert exporter.stats().spans_spooled == len(spans)
    assert len(_spool_files(tmp_path)) == 1
    spooling = [r.getMessage() for r in caplog.records if "keeping batches" in r.getMessage()]
    assert len(spooling) == 1
    assert "HTTP 503" in spooling[0]
    assert "retry after 3600 s" in spooling[0]
    assert "1 attempt" in spooling[0]
    assert "retries" not in spooling[0]


def test_the_spool_keeps_to_the_receivers_retry_after(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any, tmp_path: Path
) -> None:
    """A batch spooled after "Retry-After: 2" is re-sent once the pause is over, not at
    once by the re-sender that the spooling woke (and a longer one holds it on disk)."""
    receiver.plan(conftest_behavior(status=503, headers={"Retry-After": "2"}))
    exporter = SpanlinkExporter(receiver.url, timeout=1.0, spool_dir=tmp_path, backoff_initial=0.05)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # spooled
        time.sleep(1.0)  # the re-sender runs, and must wait
        assert len(receiver.requests) == 1
        delivered = receiver.wait_for_spans(len(spans))
        assert len(delivered) == len(spans)
        first, second = receiver.requests[:2]
        assert second.at - first.at >= 2.0 - 0.05
        assert exporter.stats().spans_resent == len(spans)
    finally:
        exporter.shutdown()


def test_retry_after_beyond_the_deadline_without_spool_logs_the_truth(
    receiver: Any,
    spans: list[ReadableSpan],
    conftest_behavior: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.default = conftest_behavior(status=429, headers={"Retry-After": "3600"})
    exporter = SpanlinkExporter(receiver.url, timeout=5.0)  # max_retries=6 by default
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 1
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert "HTTP 429" in dropped[0] and "retry after 3600 s" in dropped[0]
    assert "1 attempt" in dropped[0]
    assert "6 retries" not in dropped[0]


def test_failure_log_counts_the_attempts_really_made(
    receiver: Any,
    spans: list[ReadableSpan],
    conftest_behavior: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.default = conftest_behavior(status=503)
    exporter = SpanlinkExporter(receiver.url, max_retries=2, backoff_initial=0.01, backoff_max=0.02)
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            assert exporter.export(spans) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert len(receiver.requests) == 3
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "3 attempts" in dropped[0]


def test_shutdown_cuts_a_request_on_the_wire_and_spools_it(
    receiver: Any, spans: list[ReadableSpan], conftest_behavior: Any, tmp_path: Path
) -> None:
    receiver.default = conftest_behavior(status=503, stall=60)
    exporter = SpanlinkExporter(receiver.url, timeout=60, spool_dir=tmp_path)
    results: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: results.append(exporter.export(spans)))
    worker.start()
    while not receiver.requests:
        time.sleep(0.01)
    started = time.monotonic()
    exporter.shutdown(timeout_millis=1000)
    worker.join(10)
    assert time.monotonic() - started < 1.0 + _SLACK
    assert results == [SpanExportResult.SUCCESS]
    assert exporter.stats().spans_spooled == len(spans)
    assert len(_spool_files(tmp_path)) == 1


def test_export_after_shutdown_is_spooled_with_a_spool(span_factory: Any, tmp_path: Path) -> None:
    exporter = SpanlinkExporter("http://127.0.0.1:9", spool_dir=tmp_path)
    exporter.shutdown()
    spans = span_factory(2)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.stats().spans_spooled == len(spans)
    assert len(_spool_files(tmp_path)) == 1


@pytest.mark.parametrize("spool", [False, True])
def test_force_flush_and_shutdown_are_bounded(
    receiver: Any, span_factory: Any, conftest_behavior: Any, tmp_path: Path, spool: bool
) -> None:
    receiver.default = conftest_behavior(status=503, stall=60)
    exporter = SpanlinkExporter(receiver.url, timeout=60, spool_dir=tmp_path if spool else None)
    processor = exporter.span_processor(schedule_delay_millis=10)
    try:
        for span in span_factory(3):
            processor.on_end(span)
        while not receiver.requests:
            time.sleep(0.01)
        started = time.monotonic()
        assert processor.force_flush(500) is False  # the export on the wire is stalled
        assert time.monotonic() - started < 0.5 + _SLACK
    finally:
        started = time.monotonic()
        processor.shutdown(timeout_millis=1000)
        assert time.monotonic() - started < 1.0 + _SLACK
