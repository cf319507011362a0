"""Counters of what the exporter did with the spans it was given."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DropReason", "ExporterStats", "StatsRecorder"]


class DropReason:
    """Why spans were dropped (the keys of ``ExporterStats.spans_dropped``)."""

    #: The receiver could not be reached (or kept failing) within the deadline, no spool.
    UNDELIVERED = "undelivered"
    #: The receiver rejected the request with a non-retryable 4xx.
    REJECTED = "rejected"
    #: The receiver accepted the request but reported these spans in ``partial_success``.
    PARTIALLY_REJECTED = "partially_rejected"
    #: A single span stayed larger than the body cap (or the receiver's) after truncation.
    TOO_LARGE = "too_large"
    #: A span could not be encoded (for example an attribute value of an unknown type).
    ENCODING_ERROR = "encoding_error"
    #: The spool was full: the oldest spooled batches made room for newer ones.
    SPOOL_EVICTED = "spool_evicted"
    #: A batch could not be written to the spool (bigger than the spool, or a disk error).
    SPOOL_WRITE_FAILED = "spool_write_failed"
    #: A spool file was torn or damaged (count taken from its name); it was removed.
    SPOOL_CORRUPT = "spool_corrupt"
    #: The batch queue was full and there was no spool to spill to (or the spill fell behind).
    QUEUE_FULL = "queue_full"
    #: The exporter was shut down before these spans could be sent, and there is no spool.
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class ExporterStats:
    """A snapshot of the exporter's counters (all counts are spans unless named otherwise)."""

    spans_exported: int = 0
    spans_retried: int = 0
    spans_spooled: int = 0
    spans_resent: int = 0
    spans_truncated: int = 0
    spans_dropped: Mapping[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    requests: int = 0
    failed_requests: int = 0
    spool_files_corrupt: int = 0

    @property
    def spans_dropped_total(self) -> int:
        """All dropped spans, whatever the reason."""
        return sum(self.spans_dropped.values())


class StatsRecorder:
    """Thread-safe counters behind ``SpanlinkExporter.stats()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._dropped: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        """Add to the counter ``name`` (an ``ExporterStats`` field)."""
        if amount:
            with self._lock:
                self._counts[name] = self._counts.get(name, 0) + amount

    def drop(self, reason: str, spans: int) -> None:
        """Count ``spans`` dropped for ``reason`` (a ``DropReason``)."""
        if spans:
            with self._lock:
                self._dropped[reason] = self._dropped.get(reason, 0) + spans

    def snapshot(self) -> ExporterStats:
        """The current counters."""
        with self._lock:
            return ExporterStats(
                spans_dropped=MappingProxyType(dict(self._dropped)), **self._counts
            )
