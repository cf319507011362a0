"""SpanlinkBatchProcessor: a graceful restart during an outage loses nothing, shutdown keeps
its deadline, and an overflowing queue spills to the spool before anything is dropped.

Spans are produced at a steady rate from threads through a real SDK pipeline; afterwards a
receiver comes up, a new exporter on the same spool re-sends, and every span must arrive
exactly once (counted by span id). Bounds are asserted with slack; they are not timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from spanlink.exporter import DropReason, SpanlinkBatchProcessor, SpanlinkExporter
from spanlink.tracer import SpanlinkProcessor

_SLACK = 1.5  # seconds a loaded machine may add to a deadline


def _produce(
    provider: TracerProvider,
    threads: int,
    per_second: float,
    seconds: float,
    payload: int = 200,
) -> set[int]:
    """End spans at a steady rate from several threads; returns their span ids."""
    tracer = provider.get_tracer("load")
    ids: set[int] = set()
    lock = threading.Lock()

    def run(n: int) -> None:
        interval = threads / per_second
        until = time.monotonic() + seconds
        mine = []
        i = 0
        while time.monotonic() < until:
            with tracer.start_as_current_span(f"op {n}-{i}") as span:
                # Random text: it compresses no better than real prompts do.
                span.set_attribute("gen_ai.input.messages", os.urandom(payload // 2).hex())
                mine.append(span.get_span_context().span_id)
            i += 1
            time.sleep(interval)
        with lock:
            ids.update(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return ids


def _redeliver(receiver: Any, url: str, spool_dir: Path, expected: int) -> list[int]:
    """Bring the receiver up, restart an exporter on the spool, return the delivered ids."""
    receiver.start()
    assert receiver.url == url
    exporter = SpanlinkExporter(url, spool_dir=spool_dir, backoff_initial=0.05, backoff_max=0.2)
    try:
        assert exporter.force_flush(60_000) is True
    finally:
        exporter.shutdown()
    spans = receiver.wait_for_spans(expected, timeout=5)
    return [int.from_bytes(s.span_id, "big") for s in spans]


def _assert_each_once(delivered: list[int], produced: set[int]) -> None:
    assert len(delivered) == len(set(delivered)), "a span arrived twice"
    missing = produced - set(delivered)
    assert not missing, f"{len(missing)} of {len(produced)} spans lost"
    assert set(delivered) == produced


def test_span_processor_is_the_spool_aware_one(tmp_path: Path) -> None:
    exporter = SpanlinkExporter("http://127.0.0.1:9", spool_dir=tmp_path)
    processor = SpanlinkProcessor(exporter)
    try:
        assert isinstance(processor.delegate, SpanlinkBatchProcessor)
        assert processor.delegate.span_exporter is exporter
    finally:
        processor.shutdown()


def test_restart_during_an_outage_loses_nothing(receiver: Any, tmp_path: Path) -> None:
    """The reported case: configure(exporter=SpanlinkExporter(spool_dir=...)), spans at a
    steady rate with the receiver down, then spanlink.tracer.shutdown(timeout)."""
    url = receiver.url
    receiver.stop()  # a closed port
    ids_file = tmp_path / "ids.json"
    spool_dir = tmp_path / "spool"
    code = f"""
        import json, threading, time
        from opentelemetry import trace
        import spanlink.tracer as sl
        from spanlink.exporter import SpanlinkExporter

        sl.configure(exporter=SpanlinkExporter({url!r}, spool_dir={str(spool_dir)!r}))
        tracer = trace.get_tracer("load")
        ids, lock = [], threading.Lock()

        def run():
            until = time.monotonic() + 2.0
            while time.monotonic() < until:
                with tracer.start_as_current_span("op") as span:
                    span.set_attribute("gen_ai.input.messages", "m" * 200)
                    with lock:
                        ids.append(span.get_span_context().span_id)
                time.sleep(0.01)  # ~100 spans/s per thread, ~300 spans/s in all

        workers = [threading.Thread(target=run) for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        started = time.monotonic()
        sl.shutdown(timeout=3.0)
        elapsed = time.monotonic() - started
        json.dump(ids, open({str(ids_file)!r}, "w"))
        print(json.dumps({{"elapsed": elapsed, "spans": len(ids)}}))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["elapsed"] < 3.0 + _SLACK  # shutdown(timeout) keeps its deadline
    produced = set(json.loads(ids_file.read_text()))
    assert len(produced) == out["spans"] > 100
    _assert_each_once(_redeliver(receiver, url, spool_dir, len(produced)), produced)


@pytest.mark.parametrize("outage", ["refused", "stalled"])
def test_shutdown_within_deadline_spools_what_is_queued(
    receiver: Any, tmp_path: Path, conftest_behavior: Any, outage: str
) -> None:
    url = receiver.url
    if outage == "refused":
        receiver.stop()
    else:  # accepts requests and never answers them in time
        receiver.default = conftest_behavior(status=503, stall=60)
    exporter = SpanlinkExporter(url, spool_dir=tmp_path, timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "restart"}))
    processor = SpanlinkProcessor(exporter)
    provider.add_span_processor(processor)
    produced = _produce(provider, threads=3, per_second=300, seconds=1.5)
    started = time.monotonic()
    processor.shutdown(timeout_millis=2000)
    assert time.monotonic() - started < 2.0 + _SLACK
    assert exporter.stats().spans_dropped_total == 0
    if outage == "stalled":
        receiver.stop()  # ends the stalled handlers; their 503s were never delivered
        receiver.default = conftest_behavior()
    _assert_each_once(_redeliver(receiver, url, tmp_path, len(produced)), produced)


def test_overflowing_queue_spills_to_the_spool(
    receiver: Any, tmp_path: Path, conftest_behavior: Any
) -> None:
    url = receiver.url
    receiver.default = conftest_behavior(status=503, stall=60)  # exports hang
    exporter = SpanlinkExporter(url, spool_dir=tmp_path, timeout=30)
    processor = exporter.span_processor(
        max_queue_size=64, max_export_batch_size=32, schedule_delay_millis=20
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    produced = _produce(provider, threads=3, per_second=600, seconds=1.0)
    assert len(produced) > 3 * 64  # far more than the queue holds
    deadline = time.monotonic() + 10
    while exporter.stats().spans_spooled < len(produced) - 2 * 64 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Spilled while the export on the wire still hangs, not only at shutdown.
    assert exporter.stats().spans_spooled >= len(produced) - 2 * 64
    started = time.monotonic()
    processor.shutdown(timeout_millis=2000)
    assert time.monotonic() - started < 2.0 + _SLACK
    assert exporter.stats().spans_dropped_total == 0
    receiver.stop()
    receiver.default = conftest_behavior()
    _assert_each_once(_redeliver(receiver, url, tmp_path, len(produced)), produced)


def test_overflow_without_a_spool_is_counted(receiver: Any, conftest_behavior: Any) -> None:
    receiver.default = conftest_behavior(status=503, stall=60)
    exporter = SpanlinkExporter(receiver.url, timeout=30)
    processor = exporter.span_processor(max_queue_size=16, max_export_batch_size=8)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    produced = _produce(provider, threads=1, per_second=500, seconds=0.3)
    try:
        dropped = exporter.stats().spans_dropped.get(DropReason.QUEUE_FULL, 0)
        assert dropped >= len(produced) - 2 * 16
    finally:
        processor.shutdown(timeout_millis=500)


def test_huge_backlog_spill_stays_within_the_spool_byte_bound(
    receiver: Any, tmp_path: Path, conftest_behavior: Any
) -> None:
    receiver.default = conftest_behavior(status=503, stall=60)  # exports hang
    bound = 64 * 1024
    exporter = SpanlinkExporter(receiver.url, spool_dir=tmp_path, timeout=30, spool_max_bytes=bound)
    processor = exporter.span_processor(
        max_queue_size=64, max_export_batch_size=32, schedule_delay_millis=20
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    sizes: list[int] = []
    done = threading.Event()

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:  # evicted between the listing and the stat
            return 0

    def watch() -> None:
        while not done.is_set():
            sizes.append(sum(size(p) for p in tmp_path.glob("*.spool")))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        produced = _produce(provider, threads=3, per_second=600, seconds=1.5, payload=2000)
        processor.shutdown(timeout_millis=2000)
    finally:
        done.set()
        watcher.join()
    stats = exporter.stats()
    assert max(sizes) <= bound
    assert sum(p.stat().st_size for p in tmp_path.glob("*.spool")) <= bound
    # More spans than fit: the oldest spooled batches made room, and that is counted; every
    # span is either still spooled, or counted as evicted (nothing vanishes silently).
    evicted = stats.spans_dropped.get(DropReason.SPOOL_EVICTED, 0)
    assert evicted > 0
    assert stats.spans_spooled == len(produced)
    assert stats.spans_dropped_total == evicted
