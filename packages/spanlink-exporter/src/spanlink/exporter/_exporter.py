"""``SpanlinkExporter``: OTLP/HTTP span export that survives outages, big batches and exits."""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlink.exporter._batch import Batcher, Chunk
from spanlink.exporter._config import resolve
from spanlink.exporter._json import JsonEncoder
from spanlink.exporter._protobuf import ProtobufEncoder
from spanlink.exporter._resend import Resender
from spanlink.exporter._sender import FailureLog, Outcome, Sender, Sent
from spanlink.exporter._spool import Spool, target_of
from spanlink.exporter._stats import DropReason, ExporterStats, StatsRecorder
from spanlink.exporter._version import __version__

if TYPE_CHECKING:
    from spanlink.exporter._processor import SpanlinkBatchProcessor

__all__ = ["SpanlinkExporter"]

_logger = logging.getLogger("spanlink.exporter")

_MiB = 1024 * 1024
_MIN_BODY_BYTES = 1024
_SHUTDOWN_JOIN_SECONDS = 1.0
# gzip level 3: on AI spans about 2x less CPU than level 6 (and 15x less than the level 9
# of Python's GzipFile default) for bodies ~20% larger; see bench/bench_exporter_encode.py.
_GZIP_LEVEL = 3


class SpanlinkExporter(SpanExporter):
    """Exports spans as OTLP over HTTP (``POST {endpoint}/v1/traces``) to any OTLP receiver.

    Args:
        endpoint: base URL of the receiver; spans go to ``{endpoint}/v1/traces``. Falls back
            to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL),
            ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``SPANLINK_ENDPOINT``, then
            ``http://localhost:4318``.
        api_key: sent as ``Authorization: Bearer <api_key>``; env ``SPANLINK_API_KEY``.
        headers: extra request headers; env ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``.
        encoding: ``"protobuf"`` (default) or ``"json"`` (OTLP/JSON).
        compression: ``"gzip"`` (default) or ``"none"``; env
            ``OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION``.
        timeout: seconds one ``export()`` call may take, retries included; env
            ``OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`` in milliseconds; default 10 s.
        max_body_bytes: cap on one request body before compression; bigger batches are split
            and a single bigger span has its largest string values truncated.
        max_retries: retries per request after the first attempt, within the deadline.
        spool_dir: when given, batches not delivered in time are kept there and re-sent by a
            background thread, also after the process restarts. Each batch is tagged with a
            hash of the endpoint URL and request headers (the API key included, never in
            clear): exporters with another endpoint or key may share the directory, and each
            only re-sends its own batches.
        spool_max_bytes: bound of this exporter's batches in the spool (those of other
            targets are not counted); the oldest are dropped (and counted).
        backoff_initial: first backoff ceiling in seconds (doubles per retry, full jitter).
        backoff_max: largest backoff ceiling in seconds.

    Construction makes no network call. Every export is bounded by ``timeout`` for the whole
    call (a slow or trickling receiver cannot stretch it); ``shutdown()`` cuts requests on
    the wire and backoff waits at once. With a spool, a batch that cannot be delivered is
    kept on disk instead, and while the receiver is unreachable new batches go straight to
    the spool (the re-sender probes the receiver with backoff).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        encoding: Literal["protobuf", "json"] = "protobuf",
        compression: Literal["gzip", "none"] | None = None,
        timeout: float | None = None,
        max_body_bytes: int = 4 * _MiB,
        max_retries: int = 6,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 64 * _MiB,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        settings = resolve(endpoint, api_key, headers, encoding, compression, timeout)
        if max_body_bytes < _MIN_BODY_BYTES:
            raise ValueError(
                f"spanlink exporter: max_body_bytes must be at least {_MIN_BODY_BYTES}, "
                f"not {max_body_bytes!r}"
            )
        if max_retries < 0:
            raise ValueError(
                f"spanlink exporter: max_retries must be 0 or more, not {max_retries!r}"
            )
        if backoff_initial < 0 or backoff_max < backoff_initial:
            raise ValueError(
                "spanlink exporter: need 0 <= backoff_initial <= backoff_max, "
                f"got {backoff_initial!r} and {backoff_max!r}"
            )
        self.url = settings.url
        self.timeout = settings.timeout
        self.encoding = settings.encoding
        self.compression = settings.compression
        encoder = ProtobufEncoder() if settings.encoding == "protobuf" else JsonEncoder()
        self._batcher = Batcher(encoder, max_body_bytes)
        self._encode_lock = threading.Lock()  # the encoder's caches are not thread-safe
        self._content_type = encoder.content_type
        self._content_encoding = "gzip" if settings.compression == "gzip" else "identity"
        self._stats = StatsRecorder()
        self._log = FailureLog()
        self._stop = threading.Event()
        # _local: no more network for new batches (shutdown is near): spool them.
        # _offline: the receiver failed us; with a spool, new batches go there directly.
        self._local = threading.Event()
        self._offline = threading.Event()
        self._cutoff: float | None = None  # no export runs past this (monotonic), if set
        self._cutoff_timer: threading.Timer | None = None
        self._sender = Sender(
            settings.url,
            {"user-agent": f"spanlink-exporter/{__version__}", **settings.headers},
            max_retries,
            backoff_initial,
            backoff_max,
            self._stats,
            self._log,
            self._stop,
        )
        self._spool: Spool | None = None
        self._resender: Resender | None = None
        if spool_dir is not None:
            # Keyed by receiver and credentials: exporters of other projects may share the
            # directory, and must never re-send these batches (nor this one theirs).
            self._spool = Spool(
                spool_dir, spool_max_bytes, target_of(settings.url, settings.headers)
            )
            self._resender = Resender(
                self._spool,
                self._sender,
                self.timeout,
                self._stats,
                self._log,
                stop=self._stop,
                local=self._local,
                offline=self._offline,
            )
            if self._spool.names():
                # Batches left by an earlier run: re-send them in the background.
                self._resender.start()

    # -- SpanExporter API --------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans``; returns within ``timeout`` seconds.

        ``SUCCESS`` when every span was delivered or durably spooled; ``FAILURE`` when any
        span was dropped (see ``stats().spans_dropped`` for why). With a spool, spans given
        after ``shutdown()`` are spooled (for the next start); without one they are dropped.
        """
        if not spans:
            return SpanExportResult.SUCCESS
        if self._stop.is_set() and self._spool is None:
            self._log(
                "after-shutdown",
                logging.WARNING,
                "spanlink exporter: export() called after shutdown(); spans dropped",
            )
            self._stats.drop(DropReason.SHUTDOWN, len(spans))
            return SpanExportResult.FAILURE
        return self._export(spans, local=False)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Try to deliver what is spooled, within ``timeout_millis``; True when nothing is left."""
        resender = self._resender
        if resender is None or self._stop.is_set():
            return True
        return resender.flush(time.monotonic() + timeout_millis / 1000.0)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Stop: cuts requests on the wire and backoff waits, stops the re-sender, closes.

        Returns within ``timeout_millis`` (default 1 s). With a spool, whatever a cut request
        carried is spooled and re-sent on the next start.
        """
        if self._stop.is_set():
            return
        deadline = time.monotonic() + (
            _SHUTDOWN_JOIN_SECONDS if timeout_millis is None else max(timeout_millis, 0) / 1000
        )
        self._stop.set()
        self._local.set()
        timer = self._cutoff_timer
        if timer is not None:
            timer.cancel()
        self._sender.in_flight.cancel_all()
        if self._resender is not None:
            self._resender.stop(deadline)
        self._sender.close()

    # -- extras ------------------------------------------------------------------------------
    def stats(self) -> ExporterStats:
        """Counters: spans exported, retried, spooled, re-sent, truncated, dropped by reason."""
        return self._stats.snapshot()

    @property
    def spool_dir(self) -> str | None:
        """The spool directory, or None when the spool is off."""
        return str(self._spool.directory) if self._spool is not None else None

    def span_processor(self, **batch_options: Any) -> SpanlinkBatchProcessor:
        """A batch span processor for this exporter that knows its spool.

        ``batch_options`` are those of the SDK's ``BatchSpanProcessor`` (``max_queue_size``,
        ``schedule_delay_millis``, ``max_export_batch_size``, ``export_timeout_millis``) plus
        ``shutdown_timeout_millis``. See ``SpanlinkBatchProcessor``.
        """
        from spanlink.exporter._processor import SpanlinkBatchProcessor

        return SpanlinkBatchProcessor(self, **batch_options)

    # -- used by SpanlinkBatchProcessor ------------------------------------------------------
    @property
    def _has_spool(self) -> bool:
        return self._spool is not None

    def _spool_spans(self, spans: Sequence[ReadableSpan]) -> bool:
        """Encode ``spans`` straight into the spool, no network; False if any was dropped."""
        return self._export(spans, local=True) is SpanExportResult.SUCCESS

    def _close_by(self, cutoff: float) -> None:
        """Shutdown is coming: no export runs past ``cutoff`` (monotonic seconds).

        With a spool, the network is given up at ``cutoff`` (at once if the receiver is
        already known unreachable): requests on the wire are cut and every batch from then
        on goes to the spool, so that what is queued is on disk before the deadline.
        """
        self._cutoff = cutoff
        if self._spool is None:
            return
        delay = cutoff - time.monotonic()
        if self._offline.is_set() or delay <= 0:
            self._go_local()
            return
        timer = threading.Timer(delay, self._go_local)
        timer.daemon = True
        self._cutoff_timer = timer
        timer.start()

    def _go_local(self) -> None:
        self._local.set()
        if self._resender is not None:
            self._resender.kick()
        self._sender.in_flight.cancel_current()

    # -- sending -----------------------------------------------------------------------------
    def _compress(self, body: bytes) -> bytes:
        if self._content_encoding == "gzip":
            return gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
        return body

    def _keep_local(self) -> bool:
        """Spool without trying the network: closing, or the receiver is known down."""
        return self._spool is not None and (
            self._local.is_set() or self._offline.is_set() or self._stop.is_set()
        )

    def _export(self, spans: Sequence[ReadableSpan], *, local: bool) -> SpanExportResult:
        deadline = time.monotonic() + self.timeout
        cutoff = self._cutoff
        if cutoff is not None:
            deadline = min(deadline, cutoff)
        with self._encode_lock:
            result = self._batcher.encode(spans)
        ok = True
        if result.truncated:
            self._stats.add("spans_truncated", result.truncated)
        if result.too_large:
            ok = False
            self._stats.drop(DropReason.TOO_LARGE, result.too_large)
            self._log(
                "too-large",
                logging.WARNING,
                "spanlink exporter: %d span(s) larger than max_body_bytes=%d even after "
                "truncating their string attributes were dropped",
                result.too_large,
                self._batcher.max_body_bytes,
            )
        if result.failed:
            ok = False
            self._stats.drop(DropReason.ENCODING_ERROR, result.failed)
            self._log(
                "encoding",
                logging.ERROR,
                "spanlink exporter: %d span(s) could not be encoded and were dropped: %s",
                result.failed,
                result.errors[0],
            )
        pending: list[Chunk] = list(result.chunks)
        while pending:
            chunk = pending.pop(0)
            body = self._compress(self._batcher.body(chunk))
            if local or self._keep_local():
                why = "closing" if local or self._local.is_set() else "receiver unreachable"
                ok = self._spool_body(body, chunk.span_count, Sent(Outcome.FAILED, 0, why)) and ok
                continue
            sent = self._sender.send(
                body,
                chunk.span_count,
                deadline,
                self._content_type,
                self._content_encoding,
                fail_fast=self._spool is not None,
            )
            if sent.outcome is Outcome.DELIVERED:
                self._offline.clear()
                continue
            if sent.outcome is Outcome.TOO_LARGE and chunk.span_count > 1:
                pending[0:0] = chunk.halves()  # the receiver's cap is below ours: halve
                continue
            if sent.outcome is Outcome.TOO_LARGE:
                ok = False
                self._stats.drop(DropReason.TOO_LARGE, chunk.span_count)
            elif sent.outcome is Outcome.REJECTED:
                ok = False
                self._stats.drop(DropReason.REJECTED, chunk.span_count)
            else:
                if not self._stop.is_set():
                    self._offline.set()
                ok = self._spool_body(body, chunk.span_count, sent) and ok
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    # -- spool -------------------------------------------------------------------------------
    def _spool_body(self, body: bytes, span_count: int, sent: Sent) -> bool:
        """Keep an undelivered body on disk; False (and counted as dropped) if that fails."""
        spool = self._spool
        if spool is None:
            reason = DropReason.SHUTDOWN if self._stop.is_set() else DropReason.UNDELIVERED
            self._stats.drop(reason, span_count)
            self._log(
                "undelivered",
                logging.ERROR,
                "spanlink exporter: could not deliver %d span(s) to %s: %s; they are dropped "
                "(pass spool_dir= to keep them on disk until the receiver is back)",
                span_count,
                self._sender.url,
                sent.why,
            )
            return False
        try:
            evicted = spool.write(body, span_count, self._content_type, self._content_encoding)
        except OSError as error:
            self._stats.drop(DropReason.SPOOL_WRITE_FAILED, span_count)
            self._log(
                "spool-write",
                logging.ERROR,
                "spanlink exporter: cannot write to the spool %s (%s); spans dropped",
                spool.directory,
                error,
            )
            return False
        self._stats.add("spans_spooled", span_count)
        if evicted and self._resender is not None:
            self._resender.evicted(sum(evicted))
        self._log(
            "spooling",
            logging.WARNING,
            "spanlink exporter: not delivered to %s (%s); keeping batches in %s to re-send them",
            self._sender.url,
            sent.why,
            spool.directory,
        )
        if self._resender is not None:
            self._resender.start()
        return True
