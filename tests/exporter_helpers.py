"""Helpers the exporter tests share: span ids to compare, spool files, a timed export."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from spanlink.exporter import SpanlinkExporter


def ids(spans: list[Any]) -> list[tuple[bytes, bytes]]:
    """Sorted ``(trace_id, span_id)`` of spans the test receiver decoded."""
    return sorted((s.trace_id, s.span_id) for s in spans)


def sdk_ids(spans: list[ReadableSpan]) -> list[tuple[bytes, bytes]]:
    """Sorted ``(trace_id, span_id)`` of SDK spans, as bytes (comparable with :func:`ids`)."""
    return sorted(
        (s.context.trace_id.to_bytes(16, "big"), s.context.span_id.to_bytes(8, "big"))
        for s in spans
    )


def spool_files(directory: Path) -> list[str]:
    """The spool files in ``directory``, oldest first."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".spool"))


def export_once(
    exporter: SpanlinkExporter, spans: Sequence[ReadableSpan]
) -> tuple[SpanExportResult, float]:
    """Export ``spans`` once and shut the exporter down; the result and the seconds taken."""
    try:
        started = time.monotonic()
        result = exporter.export(spans)
        return result, time.monotonic() - started
    finally:
        exporter.shutdown()
