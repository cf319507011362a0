"""Plugins in tests: installed as an installer would, run as a host does (``plugin_helpers``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy

from spanlink.tracer import SpanRecord, Trace
from spanlink.tracer.plugins import call_each


def write_distribution(
    site: Path, name: str, version: str, entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """Lay out the ``.dist-info`` of distribution ``name`` in ``site`` as an installer would:
    its metadata and ``entry_points`` (group -> entry point name -> target)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{point} = {target}" for point, target in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


def enrich_spans(
    manager: pluggy.PluginManager,
    spans: Sequence[SpanRecord],
    context: Mapping[str, Any] | None = None,
    *,
    checked: Collection[str] | None = None,
    note: Any = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Call ``spanlink_enrich_span`` for each span, then ``spanlink_enrich_trace``.

    Asserts that no plugin (of ``checked``, default every one) raised (``note`` goes into
    the assertion message). Returns ``(results by span id, trace results)``.
    """
    context = dict(context or {})

    def check(errors: Mapping[str, Any]) -> None:
        failed = {n: e for n, e in errors.items() if checked is None or n in checked}
        assert not failed, (failed, note)

    span_results: dict[str, dict[str, Any]] = {}
    for span in spans:
        results, errors = call_each(manager, "spanlink_enrich_span", span=span, context=context)
        check(errors)
        span_results[span.span_id] = results
    trace_results, errors = call_each(
        manager,
        "spanlink_enrich_trace",
        trace=Trace.from_spans(list(spans)),
        span_results=span_results,
        context=context,
    )
    check(errors)
    return span_results, trace_results
