"""spanlink-exporter: a fast, loss-resistant OTLP/HTTP span exporter.

``SpanlinkExporter`` is a standard OpenTelemetry ``SpanExporter``: protobuf or OTLP/JSON,
gzip, batches split under a size cap, bounded retries with backoff and ``Retry-After``, an
optional on-disk spool that survives outages and restarts, and counters from ``stats()``.
``SpanlinkBatchProcessor`` (``exporter.span_processor()``) batches spans for it and spills
to the spool instead of dropping when its queue is full or shutdown is near.
"""

from spanlink.exporter._batch import TRUNCATION_MARKER
from spanlink.exporter._exporter import SpanlinkExporter
from spanlink.exporter._processor import SpanlinkBatchProcessor
from spanlink.exporter._stats import DropReason, ExporterStats
from spanlink.exporter._version import __version__

__all__ = [
    "TRUNCATION_MARKER",
    "DropReason",
    "ExporterStats",
    "SpanlinkBatchProcessor",
    "SpanlinkExporter",
    "__version__",
]
