"""``SpanlinkBatchProcessor``: the SDK's ``BatchSpanProcessor`` made aware of the spool.

The SDK's processor drops spans when its queue is full and, at shutdown, keeps exporting
batch after batch for as long as the exporter blocks, however long that takes. Wrapped here:

- a span arriving when the queue is full goes to an overflow list that a background thread
  writes to the exporter's spool in batches (bounded by ``spool_max_bytes``), so a slow
  or absent receiver costs disk, not spans; only when the overflow list itself is full
  (``max_queue_size`` more spans), or there is no spool, is a span dropped, and counted;
- ``shutdown(timeout_millis)`` returns within ``timeout_millis``: the queue is exported while
  time allows and, with a spool, what is left is written to the spool before the deadline;
- ``force_flush(timeout_millis)`` returns within ``timeout_millis``.

The queue length is tracked by counting spans in (``on_end``) and out (each ``export``
call), so nothing of the SDK's internals is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanlink.exporter import _env
from spanlink.exporter._stats import DropReason
from spanlink.tracer.support import run_with_deadline

if TYPE_CHECKING:
    from spanlink.exporter._exporter import SpanlinkExporter

__all__ = ["SpanlinkBatchProcessor"]

_logger = logging.getLogger("spanlink.exporter")

_DEFAULT_MAX_QUEUE_SIZE = 2048  # the SDK's default
_DEFAULT_MAX_EXPORT_BATCH_SIZE = 512  # the SDK's default
_SPILL_INTERVAL_SECONDS = 1.0


def _queue_size(value: int | None) -> int:
    if value is not None:
        return value
    raw = _env.read(_env.OTEL_BSP_MAX_QUEUE_SIZE)
    if raw is not None:
        try:
            size = int(raw)
            if size > 0:
                return size
        except ValueError:
            pass
        _logger.warning(
            "spanlink exporter: %s=%r is not a positive integer; using %d",
            _env.OTEL_BSP_MAX_QUEUE_SIZE,
            raw,
            _DEFAULT_MAX_QUEUE_SIZE,
        )
    return _DEFAULT_MAX_QUEUE_SIZE


class _Counted(SpanExporter):
    """What the SDK processor exports to: counts spans leaving its queue, then forwards."""

    def __init__(self, owner: SpanlinkBatchProcessor, exporter: SpanlinkExporter) -> None:
        self._owner = owner
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._owner._taken(len(spans))
        return self._exporter.export(spans)

    def shutdown(self) -> None:
        """The owner shuts the exporter down itself, within its own deadline."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SpanlinkBatchProcessor(SpanProcessor):
    """Batches spans for a ``SpanlinkExporter``; spills to its spool instead of dropping.

    Args:
        exporter: the exporter; its spool (``spool_dir``) takes the overflow and, at
            shutdown, whatever could not be delivered in time.
        max_queue_size: spans queued for export (env ``OTEL_BSP_MAX_QUEUE_SIZE``, 2048);
            with a spool, as many more wait in the overflow list for the spool.
        schedule_delay_millis, max_export_batch_size, export_timeout_millis: as for the
            SDK's ``BatchSpanProcessor`` (and its ``OTEL_BSP_*`` variables).
        shutdown_timeout_millis: what ``shutdown()`` takes at most when not given a timeout.

    Usually made by ``exporter.span_processor()``; ``spanlink.tracer.configure()`` and
    ``SpanlinkProcessor(exporter)`` use it for this exporter.
    """

    def __init__(
        self,
        exporter: SpanlinkExporter,
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
        shutdown_timeout_millis: float = 10_000,
    ) -> None:
        if shutdown_timeout_millis <= 0:
            raise ValueError(
                "spanlink exporter: shutdown_timeout_millis must be positive, "
                f"not {shutdown_timeout_millis!r}"
            )
        self._exporter = exporter
        self._max_queue = _queue_size(max_queue_size)
        self._batch_size = min(
            max_export_batch_size or _DEFAULT_MAX_EXPORT_BATCH_SIZE, self._max_queue
        )
        self._inner = BatchSpanProcessor(
            _Counted(self, exporter),
            max_queue_size=self._max_queue,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size or self._batch_size,
            export_timeout_millis=export_timeout_millis,
        )
        self._shutdown_timeout_s = shutdown_timeout_millis / 1000
        self._lock = threading.Lock()
        self._queued = 0  # spans handed to the SDK processor and not yet exported
        self._overflow: deque[ReadableSpan] = deque()
        self._spill_lock = threading.Lock()  # one writer to the spool at a time
        self._spill_wake = threading.Event()
        self._spiller: threading.Thread | None = None
        self._closing = False  # shutdown started: spans go to the overflow (spool) only
        self._closed = False  # shutdown finished: spans are dropped

    @property
    def span_exporter(self) -> SpanlinkExporter:
        """The exporter spans are sent with (named as on the SDK's ``BatchSpanProcessor``)."""
        return self._exporter

    # -- SpanProcessor ------------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        if not self._closing:
            with self._lock:
                room = self._queued < self._max_queue
                if room:
                    self._queued += 1
            if room:
                self._inner.on_end(span)
                return
        self._overflow_add(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued, waiting at most ``timeout_millis``; True when done."""
        deadline = time.monotonic() + timeout_millis / 1000
        finished, result = run_with_deadline(
            lambda: self._inner.force_flush(timeout_millis),
            timeout_millis / 1000,
            "exporter-flush",
            logger=_logger,
            warn_late=False,
        )
        spilled = self._spill(deadline)
        return bool(finished and result is not False and spilled)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Export what is queued and stop, returning within ``timeout_millis``.

        With a spool, whatever is not delivered by about half the budget (at once if the
        receiver is known unreachable) is written to the spool before the deadline.
        """
        if self._closing:
            return
        budget = self._shutdown_timeout_s if timeout_millis is None else timeout_millis / 1000
        budget = max(budget, 0.0)
        start = time.monotonic()
        finish = start + budget - min(0.1 * budget, 0.2)  # return a little early
        self._closing = True
        exporter = self._exporter
        if exporter._has_spool:
            exporter._close_by(start + budget - min(0.5 * budget, 2.0))
        else:
            exporter._close_by(finish)
        run_with_deadline(
            self._inner.shutdown,
            finish - time.monotonic(),
            "exporter-shutdown",
            logger=_logger,
            warn_late=False,  # what is left is spilled to the spool next
        )
        self._spill(finish)
        self._closed = True
        self._spill_wake.set()
        exporter.shutdown(timeout_millis=max(0.0, finish - time.monotonic()) * 1000)
        with self._lock:
            left = len(self._overflow)
            self._overflow.clear()
        if left:
            exporter._stats.drop(DropReason.SHUTDOWN, left)
            _logger.error(
                "spanlink exporter: shutdown ran out of time with %d span(s) not yet in the "
                "spool; they are dropped",
                left,
            )

    # -- queue accounting and the overflow ------------------------------------------------------
    def _taken(self, count: int) -> None:
        with self._lock:
            self._queued = max(0, self._queued - count)

    def _overflow_add(self, span: ReadableSpan) -> None:
        exporter = self._exporter
        if self._closed or not exporter._has_spool:
            reason = DropReason.SHUTDOWN if self._closed else DropReason.QUEUE_FULL
            exporter._stats.drop(reason, 1)
            exporter._log(
                f"processor:{reason}",
                logging.WARNING,
                "spanlink exporter: %s; span dropped (counted in stats().spans_dropped[%r])",
                "span ended after shutdown"
                if self._closed
                else f"batch queue full (max_queue_size={self._max_queue}) and no spool_dir "
                "to spill to",
                reason,
            )
            return
        with self._lock:
            full = len(self._overflow) >= self._max_queue
            if not full:
                self._overflow.append(span)
                size = len(self._overflow)
        if full:
            exporter._stats.drop(DropReason.QUEUE_FULL, 1)
            exporter._log(
                "processor:spill-behind",
                logging.WARNING,
                "spanlink exporter: spans end faster than they can be written to the spool "
                "%s; spans dropped (counted in stats().spans_dropped[%r])",
                exporter.spool_dir,
                DropReason.QUEUE_FULL,
            )
            return
        exporter._log(
            "processor:spilling",
            logging.WARNING,
            "spanlink exporter: batch queue full (max_queue_size=%d); spilling spans to the "
            "spool %s",
            self._max_queue,
            exporter.spool_dir,
        )
        self._start_spiller()
        if size >= self._batch_size:
            self._spill_wake.set()

    def _start_spiller(self) -> None:
        with self._lock:
            if self._spiller is not None or self._closed:
                return
            self._spiller = threading.Thread(
                target=self._spill_loop, name="spanlink-exporter-spill", daemon=True
            )
        self._spiller.start()

    def _spill_loop(self) -> None:
        while not self._closed:
            self._spill_wake.wait(_SPILL_INTERVAL_SECONDS)
            self._spill_wake.clear()
            try:
                self._spill(None)
            except Exception:  # never let the thread die silently
                _logger.exception("spanlink exporter: spilling to the spool failed; retrying")

    def _spill(self, deadline: float | None) -> bool:
        """Write the overflow to the spool in batches; True when it is empty."""
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._spill_lock.acquire(timeout=wait):
            return False
        try:
            while deadline is None or time.monotonic() < deadline:
                with self._lock:
                    count = min(self._batch_size, len(self._overflow))
                    batch = [self._overflow.popleft() for _ in range(count)]
                if not batch:
                    return True
                self._exporter._spool_spans(batch)
        finally:
            self._spill_lock.release()
        with self._lock:
            return not self._overflow
