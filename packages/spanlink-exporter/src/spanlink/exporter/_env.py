"""The environment variables the exporter reads, one constant per variable.

Explicit arguments always win over these. A blank value counts as unset. The OTLP ones follow
the OpenTelemetry exporter specification (``opentelemetry.sdk.environment_variables``).
"""

from __future__ import annotations

import os

__all__ = [
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "SPANLINK_API_KEY",
    "SPANLINK_ENDPOINT",
    "read",
]

OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""Full URL spans are posted to, used as is (no ``/v1/traces`` appended)."""

OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Base URL of the receiver; ``/v1/traces`` is appended."""

SPANLINK_ENDPOINT = "SPANLINK_ENDPOINT"
"""Base URL of the spanlink receiver, read after the two OTLP endpoint variables."""

SPANLINK_API_KEY = "SPANLINK_API_KEY"
"""API key sent as ``Authorization: Bearer <key>``."""

OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
"""Extra request headers for traces, ``k=v,k2=v2`` with percent-encoded values."""

OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
"""Extra request headers for every signal, read when the traces variable is unset."""

OTEL_EXPORTER_OTLP_TRACES_COMPRESSION = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
"""``gzip`` or ``none`` for traces."""

OTEL_EXPORTER_OTLP_COMPRESSION = "OTEL_EXPORTER_OTLP_COMPRESSION"
"""``gzip`` or ``none`` for every signal, read when the traces variable is unset."""

OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
"""Deadline of one export call for traces, in milliseconds."""

OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
"""Deadline of one export call for every signal, in milliseconds."""

OTEL_BSP_MAX_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE"
"""Spans the batch processor queues before it spills to the spool (SDK default 2048)."""


def read(*names: str) -> str | None:
    """The first of ``names`` set to a non-blank value, stripped; ``None`` when none is."""
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None
