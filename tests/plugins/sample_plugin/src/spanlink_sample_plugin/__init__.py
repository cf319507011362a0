"""Output tokens per second of each LLM call, and the slowest call of a trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import hookimpl


@hookimpl
def spanlink_enrich_span(span: SpanRecord) -> dict[str, Any] | None:
    tokens = span.attributes.get("gen_ai.usage.output_tokens")
    if not isinstance(tokens, int) or span.duration_ns == 0:
        return None  # not a model call with usage: nothing to say
    return {"tokens_per_second": round(tokens / (span.duration_ns / 1e9), 1)}


@hookimpl
def spanlink_enrich_trace(
    trace: Trace, span_results: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any] | None:
    speeds = {
        span_id: results["throughput"]["tokens_per_second"]
        for span_id, results in span_results.items()
        if "throughput" in results  # results are keyed by entry point name
    }
    if not speeds:
        return None
    slowest = min(speeds, key=speeds.__getitem__)
    return {"slowest_span_id": slowest, "min_tokens_per_second": speeds[slowest]}
