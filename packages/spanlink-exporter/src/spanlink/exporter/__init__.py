"""spanlink-exporter: a fast, loss-resistant OTLP/HTTP span exporter.

``SpanlinkExporter`` is a standard OpenTelemetry ``SpanExporter``: protobuf or OTLP/JSON,
gzip, batches split under a size cap, bounded retries with backoff and ``Retry-After``, an
optional on-disk spool that survives outages and restarts, and counters from ``stats()``.
"""

from spanlink.exporter._batch import TRUNCATION_MARKER
from spanlink.exporter._exporter import SpanlinkExporter
from spanlink.exporter._stats import DropReason, ExporterStats
from spanlink.exporter._version import __version__

__all__ = ["TRUNCATION_MARKER", "DropReason", "ExporterStats", "SpanlinkExporter", "__version__"]
