"""Re-sending the spool: one bad batch never holds back the newer ones; a down receiver is
not hammered. Batches are spooled by one exporter while the receiver is down (a "previous
run"), then re-sent by a new one."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from exporter_helpers import ids, sdk_ids, spool_files
from opentelemetry.sdk.trace import ReadableSpan

from spanlink.exporter import DropReason, SpanlinkExporter


def _exporter(url: str, spool_dir: Path, **kwargs: Any) -> SpanlinkExporter:
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("backoff_initial", 0.05)
    kwargs.setdefault("backoff_max", 0.1)
    return SpanlinkExporter(url, spool_dir=spool_dir, **kwargs)


def _let_one_pass_run(exporter: SpanlinkExporter) -> None:
    """Wait for the re-sender's first pass to fail, then a while more (it is backing off)."""
    deadline = time.monotonic() + 10
    while exporter.stats().failed_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)


def _spool_batches(url: str, spool_dir: Path, batches: list[list[ReadableSpan]]) -> None:
    """Spool each batch as its own file, oldest first, with the receiver down."""
    writer = _exporter(url, spool_dir)
    try:
        for batch in batches:
            writer.export(batch)
    finally:
        writer.shutdown()
    assert len(spool_files(spool_dir)) == len(batches)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, DropReason.REJECTED),
        (401, DropReason.REJECTED),
        (404, DropReason.REJECTED),
        (422, DropReason.REJECTED),
        (413, DropReason.TOO_LARGE),
    ],
)
def test_permanently_refused_batch_is_dropped_and_newer_ones_are_sent(
    receiver: Any,
    span_factory: Any,
    tmp_path: Path,
    conftest_behavior: Any,
    caplog: pytest.LogCaptureFixture,
    status: int,
    reason: str,
) -> None:
    url = receiver.url
    receiver.stop()
    batches = [span_factory(2) for _ in range(3)]
    _spool_batches(url, tmp_path, batches)
    oldest = spool_files(tmp_path)[0]
    receiver.start()
    receiver.plan(conftest_behavior(status=status, body=b"this batch is not acceptable"))
    reader = _exporter(url, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            assert reader.force_flush(10_000) is True
    finally:
        reader.shutdown()
    assert ids(receiver.delivered_spans()) == sdk_ids(batches[1] + batches[2])
    assert reader.stats().spans_dropped == {reason: len(batches[0])}
    assert spool_files(tmp_path) == []
    dropped = [r.getMessage() for r in caplog.records if oldest in r.getMessage()]
    assert len(dropped) == 1  # one line, saying why
    assert f"HTTP {status}" in dropped[0] and "this batch is not acceptable" in dropped[0]


@pytest.mark.parametrize(
    "behavior",
    [
        {"status": 500},
        {"status": 503},
        {"status": 429, "headers": {"Retry-After": "3600"}},
        {"status": 408},
        {"close": True},  # the connection is dropped without an answer
    ],
)
def test_batch_failing_for_other_reasons_does_not_block_newer_ones(
    receiver: Any,
    span_factory: Any,
    tmp_path: Path,
    conftest_behavior: Any,
    behavior: dict[str, Any],
) -> None:
    url = receiver.url
    receiver.stop()
    batches = [span_factory(2) for _ in range(3)]
    _spool_batches(url, tmp_path, batches)
    receiver.start()
    receiver.plan(conftest_behavior(**behavior))  # the oldest file fails once
    reader = _exporter(url, tmp_path)
    try:
        assert reader.force_flush(10_000) is True
    finally:
        reader.shutdown()
    # The newer batches went through right after the oldest one failed, in the same pass...
    first, second, third = receiver.requests[:3]
    assert first.status != 200 and (second.status, third.status) == (200, 200)
    newer = [
        s
        for r in (second, third)
        for rs in r.decode().resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    assert ids(newer) == sdk_ids(batches[1] + batches[2])
    # ...and the failed one was kept and sent by a later pass: nothing lost, nothing twice.
    assert ids(receiver.delivered_spans()) == sdk_ids([s for b in batches for s in b])
    assert reader.stats().spans_dropped_total == 0
    assert spool_files(tmp_path) == []


def test_pass_stops_at_a_connection_failure(
    receiver: Any, span_factory: Any, tmp_path: Path
) -> None:
    url = receiver.url
    receiver.stop()
    _spool_batches(url, tmp_path, [span_factory(1) for _ in range(5)])
    # A long backoff: the re-sender (started by the new exporter) makes one pass only.
    reader = _exporter(url, tmp_path, backoff_initial=300, backoff_max=600)
    try:
        _let_one_pass_run(reader)
    finally:
        reader.shutdown()
    # One connection attempt for the whole pass, not one per spooled file.
    assert reader.stats().failed_requests == 1
    assert len(spool_files(tmp_path)) == 5


def test_pass_stops_after_two_failures_in_a_row(
    receiver: Any, span_factory: Any, tmp_path: Path, conftest_behavior: Any
) -> None:
    url = receiver.url
    receiver.stop()
    _spool_batches(url, tmp_path, [span_factory(1) for _ in range(5)])
    receiver.start()
    receiver.default = conftest_behavior(status=503)
    reader = _exporter(url, tmp_path, backoff_initial=300, backoff_max=600)
    try:
        _let_one_pass_run(reader)
    finally:
        reader.shutdown()
    # Every batch failing alike means the receiver is in trouble: two tries, then back off.
    assert len(receiver.requests) == 2
    assert len(spool_files(tmp_path)) == 5
    assert reader.stats().spans_dropped_total == 0


def test_batch_failing_while_others_are_accepted_is_dropped_after_five_passes(
    receiver: Any,
    span_factory: Any,
    tmp_path: Path,
    conftest_behavior: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = receiver.url
    receiver.stop()
    poisoned = span_factory(2)
    _spool_batches(url, tmp_path, [poisoned])
    name = spool_files(tmp_path)[0]
    receiver.start()
    reader = _exporter(url, tmp_path, backoff_initial=300, backoff_max=600)
    sent: list[ReadableSpan] = []
    try:
        with caplog.at_level(logging.WARNING, logger="spanlink.exporter"):
            for round_ in range(5):
                # Each pass: the poisoned batch gets a 500, a newer batch is accepted.
                receiver.stop()
                batch = span_factory(1)
                sent.extend(batch)
                writer = _exporter(url, tmp_path)
                writer.export(batch)
                writer.shutdown()
                receiver.start()
                receiver.plan(conftest_behavior(status=500, body=b"cannot store this batch"))
                reader.force_flush(300)  # kicks a pass; the poisoned file may remain
                assert ids(receiver.wait_for_spans(len(sent))) == sdk_ids(sent), round_
        assert spool_files(tmp_path) == []
    finally:
        reader.shutdown()
    assert reader.stats().spans_dropped == {DropReason.REJECTED: len(poisoned)}
    dropped = [r.getMessage() for r in caplog.records if name in r.getMessage()]
    assert len(dropped) == 1 and "failed 5 times" in dropped[0]
