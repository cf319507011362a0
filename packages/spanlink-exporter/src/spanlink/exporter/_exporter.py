"""``SpanlinkExporter``: OTLP/HTTP span export that survives outages, big batches and exits."""

from __future__ import annotations

import enum
import gzip
import logging
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlink.exporter._batch import Batcher, Chunk
from spanlink.exporter._config import resolve
from spanlink.exporter._json import JsonEncoder
from spanlink.exporter._protobuf import ProtobufEncoder
from spanlink.exporter._responses import partial_success, server_message
from spanlink.exporter._retry import RETRYABLE_STATUS, backoff_delay, parse_retry_after
from spanlink.exporter._spool import Spool, SpoolCorruptError
from spanlink.exporter._stats import DropReason, ExporterStats, StatsRecorder
from spanlink.exporter._version import __version__

__all__ = ["SpanlinkExporter"]

_logger = logging.getLogger("spanlink.exporter")

_MiB = 1024 * 1024
_MIN_BODY_BYTES = 1024
_SPOOL_POLL_SECONDS = 30.0
_SHUTDOWN_JOIN_SECONDS = 1.0
# gzip level 3: on AI spans about 2x less CPU than level 6 (and 15x less than the level 9
# of Python's GzipFile default) for bodies ~20% larger; see bench/bench_exporter_encode.py.
_GZIP_LEVEL = 3


class _Outcome(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # retryable failure that outlasted the retries, the deadline or shutdown
    REJECTED = "rejected"  # non-retryable 4xx/5xx: sending it again cannot help
    TOO_LARGE = "too_large"  # 413: the receiver wants smaller requests


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
            background thread, also after the process restarts.
        spool_max_bytes: bound of the spool; the oldest batches are dropped (and counted).
        backoff_initial: first backoff ceiling in seconds (doubles per retry, full jitter).
        backoff_max: largest backoff ceiling in seconds.

    Construction makes no network call. Every export is bounded by ``timeout``;
    ``shutdown()`` interrupts any backoff wait at once.
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
        self._max_retries = max_retries
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        encoder = ProtobufEncoder() if settings.encoding == "protobuf" else JsonEncoder()
        self._batcher = Batcher(encoder, max_body_bytes)
        self._encode_lock = threading.Lock()  # the encoder's caches are not thread-safe
        self._content_type = encoder.content_type
        self._content_encoding = "gzip" if settings.compression == "gzip" else "identity"
        self._headers = {"user-agent": f"spanlink-exporter/{__version__}", **settings.headers}
        self._stats = StatsRecorder()
        self._rng = random.Random()
        self._stop = threading.Event()
        # _wake: something new to send (a spooled batch, a flush); ends the idle wait.
        # _kick: a flush or shutdown; also ends a backoff wait, which new batches must not.
        self._wake = threading.Event()
        self._kick = threading.Event()
        self._drained = threading.Condition()
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._logged: set[str] = set()
        self._log_lock = threading.Lock()
        self._resender: threading.Thread | None = None
        self._resender_lock = threading.Lock()
        self._spool = Spool(spool_dir, spool_max_bytes) if spool_dir is not None else None
        if self._spool is not None and self._spool.names():
            # Batches left by an earlier run: re-send them in the background.
            self._start_resender()

    # -- SpanExporter API --------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans``; returns within ``timeout`` seconds.

        ``SUCCESS`` when every span was delivered or durably spooled; ``FAILURE`` when any
        span was dropped (see ``stats().spans_dropped`` for why).
        """
        if not spans:
            return SpanExportResult.SUCCESS
        if self._stop.is_set():
            self._log_once(
                "after-shutdown",
                logging.WARNING,
                "spanlink exporter: export() called after shutdown(); spans dropped",
            )
            self._stats.drop(DropReason.SHUTDOWN, len(spans))
            return SpanExportResult.FAILURE
        deadline = time.monotonic() + self.timeout
        with self._encode_lock:
            result = self._batcher.encode(spans)
        ok = True
        if result.truncated:
            self._stats.add("spans_truncated", result.truncated)
        if result.too_large:
            ok = False
            self._stats.drop(DropReason.TOO_LARGE, result.too_large)
            self._log_once(
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
            self._log_once(
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
            outcome = self._send(
                body, chunk.span_count, deadline, self._content_type, self._content_encoding
            )
            if outcome is _Outcome.DELIVERED:
                continue
            if outcome is _Outcome.TOO_LARGE and chunk.span_count > 1:
                pending[0:0] = chunk.halves()  # the receiver's cap is below ours: halve
                continue
            if outcome is _Outcome.TOO_LARGE:
                ok = False
                self._stats.drop(DropReason.TOO_LARGE, chunk.span_count)
            elif outcome is _Outcome.REJECTED:
                ok = False
                self._stats.drop(DropReason.REJECTED, chunk.span_count)
            elif not self._spool_body(body, chunk.span_count):
                ok = False
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Try to deliver what is spooled, within ``timeout_millis``; True when nothing is left."""
        spool = self._spool
        if spool is None or self._stop.is_set():
            return True
        if not spool.names():
            return True
        deadline = time.monotonic() + timeout_millis / 1000.0
        self._start_resender()
        self._wake.set()
        self._kick.set()
        with self._drained:
            while spool.names():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                self._drained.wait(remaining)
        return not spool.names()

    def shutdown(self) -> None:
        """Stop: interrupts backoff waits, stops the re-sender, closes connections.

        Returns promptly; a request already on the wire is bounded by its own timeout and
        whatever it could not deliver stays in the spool for the next start.
        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self._kick.set()
        with self._drained:
            self._drained.notify_all()
        resender = self._resender
        if resender is not None:
            resender.join(_SHUTDOWN_JOIN_SECONDS)
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- extras ------------------------------------------------------------------------------
    def stats(self) -> ExporterStats:
        """Counters: spans exported, retried, spooled, re-sent, truncated, dropped by reason."""
        return self._stats.snapshot()

    @property
    def spool_dir(self) -> str | None:
        """The spool directory, or None when the spool is off."""
        return str(self._spool.directory) if self._spool is not None else None

    # -- sending -----------------------------------------------------------------------------
    def _compress(self, body: bytes) -> bytes:
        if self._content_encoding == "gzip":
            return gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
        return body

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                # Created on first use: construction stays free of network and TLS setup.
                self._client = httpx.Client(
                    limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
                    follow_redirects=False,
                )
            return self._client

    def _send(
        self,
        body: bytes,
        span_count: int,
        deadline: float,
        content_type: str,
        content_encoding: str,
        *,
        resend: bool = False,
    ) -> _Outcome:
        """POST one body with bounded retries until delivered, rejected, or out of time."""
        headers = {**self._headers, "content-type": content_type}
        if content_encoding != "identity":
            headers["content-encoding"] = content_encoding
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                return _Outcome.FAILED
            retry_after: float | None = None
            try:
                response = self._http().post(
                    self.url, content=body, headers=headers, timeout=remaining
                )
            except httpx.TransportError as error:  # refused, reset, closed, timed out...
                self._stats.add("failed_requests")
                reason = f"{type(error).__name__}: {error or 'no detail'}"
                self._log_once(
                    f"transport:{type(error).__name__}",
                    logging.WARNING,
                    "spanlink exporter: cannot reach %s (%s); retrying with backoff "
                    "(not logged again until a delivery succeeds)",
                    self.url,
                    reason,
                )
            except RuntimeError:  # the client was closed by shutdown() mid-request
                return _Outcome.FAILED
            else:
                self._stats.add("requests")
                status = response.status_code
                if 200 <= status < 300:
                    self._delivered(response, body, span_count, resend)
                    return _Outcome.DELIVERED
                self._stats.add("failed_requests")
                message = server_message(response)
                if status == 413:
                    self._log_once(
                        "413",
                        logging.WARNING,
                        "spanlink exporter: %s answered 413 (%s); splitting batches "
                        "further (lower max_body_bytes to avoid this)",
                        self.url,
                        message,
                    )
                    return _Outcome.TOO_LARGE
                if status not in RETRYABLE_STATUS:
                    self._log_once(
                        f"status:{status}",
                        logging.ERROR,
                        "spanlink exporter: %s rejected %d span(s) with HTTP %d: %s. "
                        "They are dropped; check the endpoint URL and the API key.",
                        self.url,
                        span_count,
                        status,
                        message,
                    )
                    return _Outcome.REJECTED
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                self._log_once(
                    f"status:{status}",
                    logging.WARNING,
                    "spanlink exporter: %s answered HTTP %d (%s); retrying with backoff "
                    "(not logged again until a delivery succeeds)",
                    self.url,
                    status,
                    message,
                )
            if attempt >= self._max_retries:
                return _Outcome.FAILED
            if retry_after is not None:
                delay = retry_after
            else:
                delay = backoff_delay(attempt, self._backoff_initial, self._backoff_max, self._rng)
            attempt += 1
            if time.monotonic() + delay >= deadline:
                # Waiting past the deadline cannot help this call: give up now.
                return _Outcome.FAILED
            self._stats.add("spans_retried", span_count)
            if self._stop.wait(delay):
                return _Outcome.FAILED

    def _delivered(
        self, response: httpx.Response, body: bytes, span_count: int, resend: bool
    ) -> None:
        rejected, message = partial_success(response)
        rejected = min(max(rejected, 0), span_count)
        self._stats.add("bytes_sent", len(body))
        self._stats.add("spans_exported", span_count - rejected)
        if resend:
            self._stats.add("spans_resent", span_count)
        if rejected or message:
            self._stats.drop(DropReason.PARTIALLY_REJECTED, rejected)
            self._log_once(
                f"partial:{message}",
                logging.WARNING,
                "spanlink exporter: %s accepted the batch but rejected %d span(s): %s",
                self.url,
                rejected,
                message or "no message",
            )
        with self._log_lock:
            recovered = any(not key.startswith("partial:") for key in self._logged)
            self._logged = {key for key in self._logged if key.startswith("partial:")}
        if recovered:
            _logger.info("spanlink exporter: delivering to %s again", self.url)

    # -- spool -------------------------------------------------------------------------------
    def _spool_body(self, body: bytes, span_count: int) -> bool:
        """Keep an undelivered body on disk; False (and counted as dropped) if that fails."""
        spool = self._spool
        if spool is None:
            reason = DropReason.SHUTDOWN if self._stop.is_set() else DropReason.UNDELIVERED
            self._stats.drop(reason, span_count)
            self._log_once(
                "undelivered",
                logging.ERROR,
                "spanlink exporter: could not deliver spans to %s within the %.1f s deadline "
                "and %d retries; they are dropped (pass spool_dir= to keep them on disk until "
                "the receiver is back)",
                self.url,
                self.timeout,
                self._max_retries,
            )
            return False
        try:
            evicted = spool.write(body, span_count, self._content_type, self._content_encoding)
        except OSError as error:
            self._stats.drop(DropReason.SPOOL_WRITE_FAILED, span_count)
            self._log_once(
                "spool-write",
                logging.ERROR,
                "spanlink exporter: cannot write to the spool %s (%s); spans dropped",
                spool.directory,
                error,
            )
            return False
        self._stats.add("spans_spooled", span_count)
        if evicted:
            self._evicted(spool, sum(evicted))
        self._log_once(
            "spooling",
            logging.WARNING,
            "spanlink exporter: %s unreachable; keeping batches in %s until it is back",
            self.url,
            spool.directory,
        )
        if not self._stop.is_set():
            self._start_resender()
            self._wake.set()
        return True

    def _evicted(self, spool: Spool, spans: int) -> None:
        self._stats.drop(DropReason.SPOOL_EVICTED, spans)
        self._log_once(
            "spool-full",
            logging.WARNING,
            "spanlink exporter: spool %s is full (spool_max_bytes=%d); the oldest "
            "batches are dropped to make room",
            spool.directory,
            spool.max_bytes,
        )

    def _start_resender(self) -> None:
        with self._resender_lock:
            if self._stop.is_set() or (self._resender is not None and self._resender.is_alive()):
                return
            self._resender = threading.Thread(
                target=self._resend_loop, name="spanlink-exporter-spool", daemon=True
            )
            self._resender.start()

    def _resend_loop(self) -> None:
        """Background: re-send spooled bodies oldest first, backing off while they fail."""
        attempt = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                drained = self._drain_spool()
            except Exception:  # never let the thread die silently
                _logger.exception("spanlink exporter: spool re-sender failed; retrying")
                drained = False
            with self._drained:
                self._drained.notify_all()
            if drained:
                attempt = 0
                self._wake.wait(_SPOOL_POLL_SECONDS)
            else:
                delay = backoff_delay(
                    attempt, max(self._backoff_initial, 0.05), self._backoff_max, self._rng
                )
                attempt += 1
                self._kick.wait(delay)
                self._kick.clear()

    def _drain_spool(self) -> bool:
        """Re-send until the spool is empty (True) or a body could not be delivered (False).

        The listing is taken again after each pass: batches spooled while a pass was running
        are picked up without waiting for the next wake-up.
        """
        spool = self._spool
        assert spool is not None
        while names := spool.names():
            if not self._drain_pass(spool, names):
                return False
        return True

    def _drain_pass(self, spool: Spool, names: list[str]) -> bool:
        for name in names:
            if self._stop.is_set():
                return False
            try:
                batch = spool.read(name)
            except SpoolCorruptError as error:
                self._stats.add("spool_files_corrupt")
                self._stats.drop(DropReason.SPOOL_CORRUPT, error.span_count)
                _logger.error("spanlink exporter: %s", error)
                continue
            if batch is None:
                continue
            deadline = time.monotonic() + self.timeout
            outcome = self._send(
                batch.body,
                batch.span_count,
                deadline,
                batch.content_type,
                batch.content_encoding,
                resend=True,
            )
            if outcome is _Outcome.DELIVERED:
                spool.remove(name)
            elif outcome is _Outcome.FAILED:
                lost = spool.release(name)
                if lost:
                    self._evicted(spool, lost)
                return False
            else:  # rejected for good: sending it again cannot succeed
                spool.remove(name)
                reason = (
                    DropReason.TOO_LARGE if outcome is _Outcome.TOO_LARGE else DropReason.REJECTED
                )
                self._stats.drop(reason, batch.span_count)
        return True

    # -- logging -----------------------------------------------------------------------------
    def _log_once(self, key: str, level: int, message: str, *args: object) -> None:
        """Log a kind of failure once; it is logged again only after a delivery succeeded."""
        with self._log_lock:
            if key in self._logged:
                return
            self._logged.add(key)
        _logger.log(level, message, *args)
