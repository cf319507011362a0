"""The ``anomaly`` plugin's hook implementations (entry point ``anomaly`` in group ``spanlink``).

Span result (``spanlink_enrich_span``), only for spans with findings: ``anomalies`` (the
findings), ``count``, ``worst_severity`` and ``rules`` (comma-separated; the scalars are what
``SpanlinkProcessor(enrich=True)`` can write onto the span as attributes).

Trace result (``spanlink_enrich_trace``): ``anomalies`` (span-level and trace-level findings,
worst first), ``counts`` (by rule), ``total`` and ``worst_severity`` (None when clean).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.plugins.anomaly.config import SEVERITIES, settings_for
from spanlink.plugins.anomaly.rules import Finding, span_findings, trace_findings
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import hookimpl

__all__ = ["rollup", "spanlink_enrich_span", "spanlink_enrich_trace"]

PLUGIN_NAME = "anomaly"
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def _worst(findings: list[Finding]) -> str | None:
    if not findings:
        return None
    severities: list[str] = [f["severity"] for f in findings]
    return max(severities, key=lambda s: _RANK.get(s, -1))


def rollup(findings: list[Finding]) -> dict[str, Any]:
    """Findings worst first, with counts by rule, the total and the worst severity."""
    ordered = sorted(findings, key=lambda f: -_RANK.get(f["severity"], -1))
    counts: dict[str, int] = {}
    for item in ordered:
        counts[item["rule"]] = counts.get(item["rule"], 0) + 1
    return {
        "anomalies": ordered,
        "counts": dict(sorted(counts.items())),
        "total": len(ordered),
        "worst_severity": _worst(ordered),
    }


@hookimpl
def spanlink_enrich_span(span: SpanRecord, context: Mapping[str, Any]) -> dict[str, Any] | None:
    """Run the single-span rules; None when the span is clean."""
    findings = span_findings(span, settings_for(context))
    if not findings:
        return None
    return {
        "anomalies": findings,
        "count": len(findings),
        "worst_severity": _worst(findings),
        "rules": ",".join(sorted({f["rule"] for f in findings})),
    }


@hookimpl
def spanlink_enrich_trace(
    trace: Trace,
    span_results: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Run the cross-span rules and roll every finding of the trace up."""
    settings = settings_for(context)
    span_level: list[Finding] = []
    for span in trace.spans:  # trace order, not the arbitrary order of span_results
        by_plugin = span_results.get(span.span_id)
        result = by_plugin.get(PLUGIN_NAME) if by_plugin else None
        if result is not None and isinstance(result, (dict, Mapping)):
            span_level.extend(result.get("anomalies") or ())
    baselines = context.get("baselines") if context else None
    found = trace_findings(
        trace,
        span_results,
        settings,
        baselines if isinstance(baselines, Mapping) else {},
        span_level,
    )
    return rollup(span_level + found)
