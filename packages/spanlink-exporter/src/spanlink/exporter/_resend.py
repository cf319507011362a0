"""Re-sending the spool in the background: oldest first, without head-of-line blocking.

A batch refused for good (a 4xx other than 408/429, or 413) is dropped, counted and logged.
A batch that failed otherwise is kept and the next one is tried, so one bad batch never
holds back the newer ones; but a pass ends at the first connection failure (the receiver is
down: do not hammer it) or after two failures in a row, and the next pass waits a backoff.
A batch that keeps failing while the receiver accepts the others is dropped after
``_MAX_BATCH_FAILURES`` passes. A ``Retry-After`` the receiver sent is kept to: no pass
starts before it ends.
"""

from __future__ import annotations

import logging
import threading
import time

from spanlink.exporter._sender import FailureLog, Outcome, Sender
from spanlink.exporter._spool import Spool, SpoolCorruptError, span_count_from_name
from spanlink.exporter._stats import DropReason, StatsRecorder
from spanlink.tracer.support import backoff_delay

__all__ = ["Resender"]

_logger = logging.getLogger("spanlink.exporter")

_POLL_SECONDS = 30.0
_MAX_BATCH_FAILURES = 5


class Resender:
    """The background thread that empties one exporter's spool."""

    def __init__(
        self,
        spool: Spool,
        sender: Sender,
        timeout: float,
        stats: StatsRecorder,
        log: FailureLog,
        *,
        stop: threading.Event,
        local: threading.Event,
        offline: threading.Event,
    ) -> None:
        self.spool = spool
        self._sender = sender
        self._timeout = timeout
        self._stats = stats
        self._log = log
        self._stop = stop
        self._local = local  # shutdown is near: no more network
        self._offline = offline  # cleared once a batch got through
        # _wake: something new to send (a spooled batch, a flush); ends the idle wait.
        # _kick: a flush or shutdown; also ends a backoff wait, which new batches must not.
        self._wake = threading.Event()
        self._kick = threading.Event()
        self._drained = threading.Condition()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._batch_failures: dict[str, int] = {}

    def start(self, *, kick: bool = False) -> None:
        """Make sure the thread runs and looks at the spool soon (at once with ``kick``)."""
        with self._thread_lock:
            if self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="spanlink-exporter-spool", daemon=True
                )
                self._thread.start()
        self._wake.set()
        if kick:
            self._kick.set()

    def flush(self, deadline: float) -> bool:
        """Wait until the spool is empty or ``deadline`` (monotonic); True when empty."""
        spool = self.spool
        if not spool.names():
            return True
        self.start(kick=True)
        with self._drained:
            while spool.names():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                self._drained.wait(remaining)
        return not spool.names()

    def stop(self, deadline: float) -> None:
        """Wake every wait (the stop event is set by the owner) and join until ``deadline``."""
        self._wake.set()
        self._kick.set()
        with self._drained:
            self._drained.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))

    def kick(self) -> None:
        """End a backoff wait now (shutdown is near)."""
        self._kick.set()

    def _loop(self) -> None:
        """Re-send spooled bodies oldest first, backing off while they fail."""
        attempt = 1
        while not self._stop.is_set():
            pause = self._sender.not_before - time.monotonic()
            if pause > 0:  # the receiver's Retry-After: keep to it (only a stop ends it)
                self._stop.wait(pause)
                continue
            self._wake.clear()
            try:
                drained = self._drain_spool()
            except Exception:  # never let the thread die silently
                _logger.exception("spanlink exporter: spool re-sender failed; retrying")
                drained = False
            with self._drained:
                self._drained.notify_all()
            if drained:
                attempt = 1
                self._wake.wait(_POLL_SECONDS)
            else:
                sender = self._sender
                delay = backoff_delay(
                    attempt, max(sender.backoff_initial, 0.05), sender.backoff_max
                )
                attempt += 1
                self._kick.wait(delay)
                self._kick.clear()

    def evicted(self, spans: int) -> None:
        """Count and report spans the spool's size bound pushed out."""
        spool = self.spool
        self._stats.drop(DropReason.SPOOL_EVICTED, spans)
        self._log(
            "spool-full",
            logging.WARNING,
            "spanlink exporter: spool %s is full (spool_max_bytes=%d); the oldest "
            "batches are dropped to make room",
            spool.directory,
            spool.max_bytes,
        )

    def _drain_spool(self) -> bool:
        """Re-send until the spool is empty (True) or a pass left files behind (False).

        The listing is taken again after each pass: batches spooled while a pass was running
        are picked up without waiting for the next wake-up.
        """
        spool = self.spool
        while names := spool.names():
            if not self._drain_pass(spool, names):
                return False
        return True

    def _drain_pass(self, spool: Spool, names: list[str]) -> bool:
        """Re-send each file oldest first; True when none was left behind.

        A file refused for good (4xx other than 408/429, or 413) is dropped, counted and
        logged. A file that failed otherwise is kept and the next one tried: one bad batch
        does not hold back the newer ones. The pass stops at the first connection failure
        (the receiver is down: do not hammer it) or after two failures in a row.
        """
        failed: list[str] = []
        in_a_row = 0
        delivered = False
        for name in names:
            if self._stop.is_set() or self._local.is_set():
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
            sent = self._sender.send(
                batch.body,
                batch.span_count,
                time.monotonic() + self._timeout,
                batch.content_type,
                batch.content_encoding,
                resend=True,
                fail_fast=True,
            )
            if sent.outcome is Outcome.DELIVERED:
                self._forget(spool, name)
                self._offline.clear()
                delivered = True
                in_a_row = 0
            elif sent.outcome is Outcome.FAILED:
                lost = spool.release(name)
                if lost:
                    self.evicted(lost)
                failed.append(name)
                in_a_row += 1
                if sent.unreachable or in_a_row >= 2:
                    break
            else:  # refused for good: sending it again cannot succeed
                in_a_row = 0
                reason = (
                    DropReason.TOO_LARGE
                    if sent.outcome is Outcome.TOO_LARGE
                    else DropReason.REJECTED
                )
                self._drop_spooled(spool, name, batch.span_count, reason, sent.why)
        if delivered:
            # The receiver is up and accepts other batches: these failures are the batch's own.
            for name in failed:
                count = self._batch_failures.get(name, 0) + 1
                self._batch_failures[name] = count
                if count >= _MAX_BATCH_FAILURES:
                    why = f"failed {count} times while the receiver accepted other batches"
                    self._drop_spooled(
                        spool, name, span_count_from_name(name), DropReason.REJECTED, why
                    )
        return not failed

    def _forget(self, spool: Spool, name: str) -> None:
        spool.remove(name)
        self._batch_failures.pop(name, None)

    def _drop_spooled(self, spool: Spool, name: str, spans: int, reason: str, why: str) -> None:
        self._forget(spool, name)
        self._stats.drop(reason, spans)
        self._log(
            f"spool-drop:{reason}:{why}",
            logging.ERROR,
            "spanlink exporter: spooled batch %s (%d span(s)) dropped: %s refused it for good "
            "(%s); sending it again cannot succeed",
            name,
            spans,
            self._sender.url,
            why,
        )
