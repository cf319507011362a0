"""The durable spool: outages and restarts lose nothing; it stays bounded; bad files are skipped."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from exporter_helpers import export_once, ids, sdk_ids, spool_files
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from spanlink.exporter import DropReason, SpanlinkExporter
from spanlink.exporter._spool import Spool, target_of


def _exporter(url: str, spool_dir: Path, **kwargs: Any) -> SpanlinkExporter:
    kwargs.setdefault("timeout", 0.5)
    kwargs.setdefault("backoff_initial", 0.02)
    kwargs.setdefault("backoff_max", 0.1)
    return SpanlinkExporter(url, spool_dir=spool_dir, **kwargs)


def test_outage_then_recovery_loses_nothing(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    exporter = _exporter(url, tmp_path)
    sent: list[ReadableSpan] = []
    try:
        for _ in range(4):
            batch = span_factory(3)
            sent.extend(batch)
            # Undelivered but kept on disk: not a loss, so the export succeeds.
            assert exporter.export(batch) is SpanExportResult.SUCCESS
        assert len(spool_files(tmp_path)) == 4
        assert exporter.stats().spans_spooled == len(sent)
        receiver.start()  # back on the same port
        delivered = receiver.wait_for_spans(len(sent))
        assert exporter.force_flush(10_000) is True
    finally:
        exporter.shutdown()
    assert ids(delivered) == sdk_ids(sent)  # every span, exactly once
    assert spool_files(tmp_path) == []
    stats = exporter.stats()
    assert stats.spans_resent == len(sent)
    assert stats.spans_exported == len(sent)
    assert stats.spans_dropped_total == 0


def test_spooled_batches_survive_a_restart(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    first = _exporter(url, tmp_path)
    spans = span_factory(4)
    try:
        assert first.export(spans) is SpanExportResult.SUCCESS
    finally:
        first.shutdown()  # the "process" ends with the batch only on disk
    assert len(spool_files(tmp_path)) == 1
    receiver.start()
    second = _exporter(url, tmp_path)  # the next start, same spool directory
    try:
        delivered = receiver.wait_for_spans(len(spans))
        assert second.force_flush(10_000) is True
    finally:
        second.shutdown()
    assert ids(delivered) == sdk_ids(spans)
    assert spool_files(tmp_path) == []
    # Stored exactly as it would have been sent: same content type and compression.
    (request,) = receiver.delivered()
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/x-protobuf"


def test_json_batches_are_resent_as_json(receiver: Any, span_factory: Any, tmp_path: Path) -> None:
    url = receiver.url
    receiver.stop()
    first = _exporter(url, tmp_path, encoding="json")
    spans = span_factory(2)
    first.export(spans)
    first.shutdown()
    receiver.start()
    second = _exporter(url, tmp_path)  # protobuf now: the file keeps its own content type
    try:
        assert ids(receiver.wait_for_spans(len(spans))) == sdk_ids(spans)
    finally:
        second.shutdown()
    assert receiver.delivered()[0].headers["content-type"] == "application/json"


def test_full_spool_drops_oldest_and_counts(
    receiver: Any, span_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, decode: Any
) -> None:
    url = receiver.url
    receiver.stop()
    batches = [span_factory(2) for _ in range(6)]
    spool_dir = tmp_path / "spool"
    sizer = _exporter(url, spool_dir, compression="none")
    sizer.export(batches[0])
    sizer.shutdown()
    (name,) = spool_files(spool_dir)
    one = (spool_dir / name).stat().st_size
    cap = 3 * one + one // 2  # room for three batches
    exporter = _exporter(url, spool_dir, compression="none", spool_max_bytes=cap)
    with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
        for batch in batches[1:]:
            assert exporter.export(batch) is SpanExportResult.SUCCESS
    exporter.shutdown()
    files = spool_files(spool_dir)
    assert len(files) == 3
    assert sum((spool_dir / f).stat().st_size for f in files) <= cap
    assert exporter.stats().spans_dropped == {DropReason.SPOOL_EVICTED: 3 * len(batches[0])}
    assert sum("is full (spool_max_bytes" in r.getMessage() for r in caplog.records) == 1
    # The three newest batches are the ones kept...
    spool = Spool(spool_dir, cap, target_of(exporter.url, {}))
    kept = []
    for f in files:
        batch = spool.read(f)
        assert batch is not None
        for rs in decode(batch.body, batch.content_type).resource_spans:
            for ss in rs.scope_spans:
                kept.extend(ss.spans)
    assert ids(kept) == sdk_ids([s for b in batches[3:] for s in b])
    # ...and they are what the receiver gets once it is back.
    receiver.start()
    resender = _exporter(url, spool_dir)
    try:
        assert resender.force_flush(10_000) is True
    finally:
        resender.shutdown()
    assert ids(receiver.delivered_spans()) == ids(kept)


def test_batch_bigger_than_the_spool_is_dropped_and_counted(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    exporter = _exporter(url, tmp_path, spool_max_bytes=64)
    spans = span_factory(2)
    assert export_once(exporter, spans)[0] is SpanExportResult.FAILURE
    assert exporter.stats().spans_dropped == {DropReason.SPOOL_WRITE_FAILED: len(spans)}
    assert spool_files(tmp_path) == []


def test_corrupt_and_torn_files_are_skipped_and_reported(
    receiver: Any, span_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = receiver.url
    receiver.stop()
    writer = _exporter(url, tmp_path)
    good = [span_factory(2) for _ in range(3)]
    for batch in good:
        writer.export(batch)
    writer.shutdown()
    names = spool_files(tmp_path)
    assert len(names) == 3
    # Damage: a flipped byte in the body, a file cut short, plain garbage, a stray temp file.
    first = tmp_path / names[0]
    data = bytearray(first.read_bytes())
    data[-5] ^= 0xFF
    first.write_bytes(bytes(data))
    second = tmp_path / names[1]
    second.write_bytes(second.read_bytes()[:40])
    target = names[0].split("-")[3]
    (tmp_path / f"00000000000000000001-1-00000000-{target}-7.spool").write_bytes(b"not a spool")
    (tmp_path / f".00000000000000000002-1-00000000-{target}-1.spool.tmp").write_bytes(b"half")
    # A file of no known target (an older format, or another exporter's) is left alone.
    stranger = "00000000000000000003-1-00000000-5.spool"
    (tmp_path / stranger).write_bytes(b"someone else's")
    receiver.start()
    with caplog.at_level(logging.ERROR, logger="spanlink.exporter"):
        reader = _exporter(url, tmp_path)
        try:
            delivered = receiver.wait_for_spans(len(good[2]))
            assert reader.force_flush(10_000) is True
        finally:
            reader.shutdown()
    assert ids(delivered) == sdk_ids(good[2])  # the intact batch still arrives
    assert reader.stats().spool_files_corrupt == 3
    # Span counts come from the file names (the contents cannot be trusted): 6 + 6 + 7.
    assert reader.stats().spans_dropped == {DropReason.SPOOL_CORRUPT: 19}
    corrupt = [r.getMessage() for r in caplog.records if "is corrupt (" in r.getMessage()]
    assert len(corrupt) == 3
    assert any(names[0] in m and "checksum" in m for m in corrupt)
    assert spool_files(tmp_path) == [stranger]


def test_rejected_spooled_batch_is_not_resent_forever(
    receiver: Any, span_factory: Any, tmp_path: Path, conftest_behavior: Any
) -> None:
    url = receiver.url
    receiver.stop()
    writer = _exporter(url, tmp_path)
    spans = span_factory(1)
    writer.export(spans)
    writer.shutdown()
    receiver.start()
    receiver.default = conftest_behavior(status=400, body=b"bad request")
    reader = _exporter(url, tmp_path)
    try:
        assert reader.force_flush(10_000) is True
    finally:
        reader.shutdown()
    assert len(receiver.requests) == 1
    assert reader.stats().spans_dropped == {DropReason.REJECTED: len(spans)}


def test_resender_backs_off_while_receiver_is_down(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    writer = _exporter(url, tmp_path)
    writer.export(span_factory(1))
    writer.shutdown()
    receiver.start()
    receiver.default.status = 503
    reader = _exporter(
        url, tmp_path, timeout=0.2, max_retries=0, backoff_initial=0.2, backoff_max=0.4
    )
    try:
        assert reader.force_flush(1_500) is False  # bounded: returns though nothing got through
    finally:
        reader.shutdown()
    # Backoff between passes: a handful of attempts in 1.5 s, not a tight loop.
    assert 1 <= len(receiver.requests) <= 20
    assert len(spool_files(tmp_path)) == 1


def test_shutdown_stops_the_resender_promptly(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    exporter = _exporter(url, tmp_path, backoff_initial=5, backoff_max=30)
    exporter.export(span_factory(1))
    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started < 3
    assert not [t for t in threading.enumerate() if t.name == "spanlink-exporter-spool"]


def test_spool_dir_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot create the spool directory"):
        SpanlinkExporter("http://127.0.0.1:9", spool_dir=blocker / "spool")


def test_spool_write_is_atomic(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000, target_of("http://127.0.0.1:9/v1/traces", {}))
    spool.write(b"body", 3, "application/x-protobuf", "gzip")
    entries = os.listdir(tmp_path)
    assert len(entries) == 1 and entries[0].endswith("-3.spool")  # no temp file left behind
    batch = spool.read(entries[0])
    assert batch is not None
    assert (batch.body, batch.span_count, batch.content_encoding) == (b"body", 3, "gzip")


def test_force_flush_cuts_the_resender_backoff_short(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    exporter = _exporter(url, tmp_path, max_retries=0, backoff_initial=200, backoff_max=600)
    spans = span_factory(2)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # spooled
        time.sleep(0.3)  # the re-sender fails once and backs off (up to 200 s)
        receiver.start()
        assert exporter.force_flush(5_000) is True
    finally:
        exporter.shutdown()
    assert ids(receiver.delivered_spans()) == sdk_ids(spans)


def test_receiver_crash_with_a_pooled_connection_loses_nothing(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    exporter = _exporter(receiver.url, tmp_path)
    before, during, after = span_factory(1), span_factory(2), span_factory(1)
    try:
        assert exporter.export(before) is SpanExportResult.SUCCESS  # keep-alive connection open
        receiver.stop()  # the receiver dies under it
        assert exporter.export(during) is SpanExportResult.SUCCESS  # spooled
        assert exporter.stats().spans_spooled == len(during)
        receiver.start()
        assert exporter.export(after) is SpanExportResult.SUCCESS
        assert exporter.force_flush(10_000) is True
    finally:
        exporter.shutdown()
    assert ids(receiver.delivered_spans()) == sdk_ids(before + during + after)


def test_spool_files_are_private_to_the_user(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "private", 10_000, target_of("http://127.0.0.1:9/v1/traces", {}))
    spool.write(b"prompt text", 1, "application/x-protobuf", "identity")
    (name,) = spool.names()
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "private" / name).stat().st_mode & 0o777 == 0o600
