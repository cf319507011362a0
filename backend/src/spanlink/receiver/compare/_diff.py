"""Structural diff of two traces: aligned span trees, per-span changes, the first divergence.

The trees are aligned level by level: the roots of both traces form one sibling group, and
so do the children of every matched pair. Each group is aligned in order on the span key
``(name, span kind, operation, model or tool name)``; the spans left between two matches
get a second chance on ``(name, span kind, operation)`` alone, so a call whose model or tool
changed is one *changed* span rather than a removed and an added one. A span left
unmatched is added or removed together with its whole subtree. Everything is iterative
(no recursion limit on deep trees) and bounded (see ``_align``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from spanlink.receiver.compare._align import AlignBudget, align
from spanlink.receiver.compare._errors import TraceTooLarge
from spanlink.receiver.compare._facets import CONTENT_ATTRIBUTES, Facets, content_hash, facets
from spanlink.tracer.model import Trace

__all__ = ["DIVERGENCE_CHANGES", "MAX_DIFF_SPANS", "diff_traces"]

#: Spans a trace may have for a structural diff; above it ``TraceTooLarge`` (413 in the API).
MAX_DIFF_SPANS = 20_000
#: Changes of a matched pair that make it a divergence (other changes are reported only).
DIVERGENCE_CHANGES = ("tool_name", "tool_arguments", "model", "status")

SpanResults = Mapping[str, Mapping[str, Any]]


class _Side:
    """One trace prepared for the diff: facets per span and its effective tree."""

    def __init__(self, trace: Trace, results: SpanResults | None, name: str) -> None:
        if len(trace.spans) > MAX_DIFF_SPANS:
            raise TraceTooLarge(name, len(trace.spans), MAX_DIFF_SPANS)
        self.trace = trace
        start = trace.start_time_unix_nano if trace.spans else 0
        self.roots: list[Facets] = []
        self.children: dict[str, list[Facets]] = {}
        self.order: list[Facets] = []
        # Trace.walk yields each span once in depth-first pre-order (cycles broken, missing
        # parents as roots): a span's parent is the last span yielded one level up.
        path: list[Facets] = []
        for depth, span in trace.walk():
            results_of = results.get(span.span_id) if results is not None else None
            item = facets(span, start, results_of)
            self.order.append(item)
            del path[depth:]
            if depth == 0:
                self.roots.append(item)
            else:
                self.children.setdefault(path[depth - 1].span.span_id, []).append(item)
            path.append(item)

    def kids(self, item: Facets) -> list[Facets]:
        return self.children.get(item.span.span_id, [])


class _Keys:
    """Interns alignment keys to small ints, shared by both sides of one diff."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ...], int] = {}

    def __call__(self, keys: Iterable[tuple[str, ...]]) -> list[int]:
        ids = self._ids
        return [ids.setdefault(key, len(ids)) for key in keys]


def _align_group(
    a: list[Facets], b: list[Facets], keys: _Keys, budget: AlignBudget
) -> tuple[list[Facets | None], list[Facets | None]]:
    """The aligned pairs of one sibling group as two parallel lists (None: unmatched).

    Parallel lists rather than a list of pairs: a pair tuple holds spans, so the collector
    would track every one of them while the group is walked.
    """
    if len(a) == len(b) and all(fa.key == fb.key for fa, fb in zip(a, b, strict=True)):
        return list(a), list(b)  # the common case: nothing to align
    ops_a, ops_b = align(keys(f.key for f in a), keys(f.key for f in b), budget)
    left: list[Facets | None] = []
    right: list[Facets | None] = []
    gap_a: list[Facets] = []
    gap_b: list[Facets] = []

    def flush() -> None:
        if gap_a and gap_b:
            loose_a, loose_b = align(
                keys(f.loose_key for f in gap_a), keys(f.loose_key for f in gap_b), budget
            )
            left.extend(None if i is None else gap_a[i] for i in loose_a)
            right.extend(None if j is None else gap_b[j] for j in loose_b)
        else:
            left.extend(gap_a)
            right.extend([None] * len(gap_a))
            left.extend([None] * len(gap_b))
            right.extend(gap_b)
        gap_a.clear()
        gap_b.clear()

    for i, j in zip(ops_a, ops_b, strict=True):
        if i is not None and j is not None:
            flush()
            left.append(a[i])
            right.append(b[j])
        elif i is not None:
            gap_a.append(a[i])
        elif j is not None:
            gap_b.append(b[j])
    flush()
    return left, right


def _pairs(
    a: _Side, b: _Side, budget: AlignBudget
) -> Iterator[tuple[int, Facets | None, Facets | None]]:
    """``(depth, a, b)`` in pre-order of the merged tree; one side None when unmatched."""
    keys = _Keys()
    # Three parallel stacks, not one of tuples (see _align_group); popped together.
    depths: list[int] = []
    lefts: list[Facets | None] = []
    rights: list[Facets | None] = []

    def push(depth: int, left: list[Facets | None], right: list[Facets | None]) -> None:
        depths.extend([depth] * len(left))
        lefts.extend(reversed(left))
        rights.extend(reversed(right))

    push(0, *_align_group(a.roots, b.roots, keys, budget))
    while depths:
        depth, fa, fb = depths.pop(), lefts.pop(), rights.pop()
        yield depth, fa, fb
        if fa is not None and fb is not None:
            push(depth + 1, *_align_group(a.kids(fa), b.kids(fb), keys, budget))
        elif fa is not None:
            kids = a.kids(fa)
            push(depth + 1, list(kids), [None] * len(kids))
        else:
            assert fb is not None
            kids = b.kids(fb)
            push(depth + 1, [None] * len(kids), list(kids))


def _changes(fa: Facets, fb: Facets) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if fa.model != fb.model:
        changes["model"] = {"a": fa.model, "b": fb.model}
    if fa.response_model != fb.response_model:
        changes["response_model"] = {"a": fa.response_model, "b": fb.response_model}
    if fa.tool_name != fb.tool_name:
        changes["tool_name"] = {"a": fa.tool_name, "b": fb.tool_name}
    if fa.tool_arguments != fb.tool_arguments:
        changes["tool_arguments"] = {
            "a": content_hash(fa.tool_arguments),
            "b": content_hash(fb.tool_arguments),
        }
    if fa.span.status_code != fb.span.status_code:
        changes["status"] = {"a": fa.span.status_code, "b": fb.span.status_code}
    if fa.error_type != fb.error_type:
        changes["error_type"] = {"a": fa.error_type, "b": fb.error_type}
    if fa.finish_reasons != fb.finish_reasons:
        changes["finish_reasons"] = {
            "a": None if fa.finish_reasons is None else list(fa.finish_reasons),
            "b": None if fb.finish_reasons is None else list(fb.finish_reasons),
        }
    if fa.content != fb.content:
        changes["content"] = {
            name: {"a": content_hash(va), "b": content_hash(vb)}
            for name, va, vb in zip(CONTENT_ATTRIBUTES, fa.content, fb.content, strict=True)
            if va != vb
        }
    return changes


def _minus(b: float | None, a: float | None) -> float | None:
    if a is None and b is None:
        return None
    return (b or 0) - (a or 0)


def _deltas(fa: Facets | None, fb: Facets | None) -> dict[str, Any]:
    """``b - a``; an absent span counts as zero, an unknown cost makes the delta unknown."""
    cost: float | None
    if fa is not None and fb is not None:
        known = fa.cost_usd is not None and fb.cost_usd is not None
        cost = (fb.cost_usd or 0.0) - (fa.cost_usd or 0.0) if known else None
    else:
        only = fa or fb
        assert only is not None
        sign = -1.0 if fb is None else 1.0
        cost = None if only.cost_usd is None else sign * only.cost_usd
    duration_a = fa.span.duration_ns if fa is not None else 0
    duration_b = fb.span.duration_ns if fb is not None else 0
    tokens_in = _minus(
        fb.input_tokens if fb is not None else None, fa.input_tokens if fa is not None else None
    )
    tokens_out = _minus(
        fb.output_tokens if fb is not None else None, fa.output_tokens if fa is not None else None
    )
    return {
        "duration_ms": (duration_b - duration_a) / 1e6,
        "input_tokens": None if tokens_in is None else int(tokens_in),
        "output_tokens": None if tokens_out is None else int(tokens_out),
        "cost_usd": cost,
    }


def _reason(status: str, fa: Facets | None, fb: Facets | None, changes: dict[str, Any]) -> str:
    if status == "added":
        assert fb is not None
        return f"{fb.kind} span {fb.span.name!r} only in b"
    if status == "removed":
        assert fa is not None
        return f"{fa.kind} span {fa.span.name!r} only in a"
    parts = []
    for field in DIVERGENCE_CHANGES:
        if field in changes:
            change = changes[field]
            if field == "tool_arguments":
                parts.append("tool arguments changed")
            else:
                parts.append(f"{field.replace('_', ' ')} {change['a']} -> {change['b']}")
    return "; ".join(parts)


def _totals(side: _Side) -> dict[str, Any]:
    costs = [f.cost_usd for f in side.order if f.cost_usd is not None]
    # One model call without a known cost makes the trace's cost unknown, not smaller.
    unknown = any(f.is_model_call and f.cost_usd is None for f in side.order)
    return {
        "spans": len(side.order),
        "errors": sum(1 for f in side.order if f.span.is_error),
        "duration_ms": side.trace.duration_ns / 1e6 if side.order else 0.0,
        "input_tokens": sum(f.input_tokens or 0 for f in side.order),
        "output_tokens": sum(f.output_tokens or 0 for f in side.order),
        "cost_usd": None if unknown or not costs else math.fsum(costs),
        "tool_calls": sum(1 for f in side.order if f.is_tool),
        "model_calls": sum(1 for f in side.order if f.is_model_call),
    }


def _tool_calls(side: _Side) -> list[dict[str, Any]]:
    # By start, then span id: two stable sorts instead of one key tuple per tool call.
    tools = sorted((f for f in side.order if f.is_tool), key=lambda f: f.span.span_id)
    tools.sort(key=lambda f: f.span.start_time_unix_nano)
    return [
        {
            "span_id": f.span.span_id,
            "name": f.tool_name or f.span.name,
            "arguments_hash": content_hash(f.tool_arguments),
            "status": f.span.status_code,
        }
        for f in tools
    ]


def _summary(trace: Trace) -> dict[str, Any]:
    roots = trace.roots
    return {
        "trace_id": trace.trace_id,
        "root_name": roots[0].name if roots else None,
        "span_count": len(trace.spans),
    }


def diff_traces(
    a: Trace,
    b: Trace,
    *,
    enrichment_a: SpanResults | None = None,
    enrichment_b: SpanResults | None = None,
) -> dict[str, Any]:
    """Align the span trees of ``a`` and ``b`` and describe how ``b`` differs from ``a``.

    ``enrichment_a``/``enrichment_b`` are the traces' per-span enrichment results
    (``{span_id: {plugin: result}}``, the ``"spans"`` of a stored enrichment); costs come
    from the ``cost`` plugin's ``total_cost`` and are None (unknown) without it. The answer::

        {"a": {...}, "b": {...}, "first_divergence": {...} | None,
         "tool_calls": {"a": [...], "b": [...]},
         "spans": [{"a_span_id", "b_span_id", "status", "name", "kind", "depth",
                    "changes", "deltas"}],
         "totals": {"a": {...}, "b": {...}, "delta": {...}, "counts": {...}},
         "alignment": "exact" | "approximate"}

    ``spans`` holds every span of both traces exactly once, in pre-order of the aligned
    trees. Deterministic for equal input. Raises ``TraceTooLarge`` above
    ``MAX_DIFF_SPANS`` spans per trace.
    """
    side_a = _Side(a, enrichment_a, "a")
    side_b = _Side(b, enrichment_b, "b")
    entries: list[dict[str, Any]] = []
    counts = {"same": 0, "changed": 0, "added": 0, "removed": 0}
    budget = AlignBudget()
    # The first divergence is the earliest by offset, then by pre-order index: entries come
    # in index order, so the running minimum only moves on a strictly smaller offset, and
    # its reason is written once, for the winner.
    first_offset: int | None = None
    first: tuple[str, Facets | None, Facets | None, dict[str, Any], dict[str, Any]] | None = None
    for depth, fa, fb in _pairs(side_a, side_b, budget):
        changes: dict[str, Any] = {}
        if fa is not None and fb is not None:
            changes = _changes(fa, fb)
            status = "changed" if changes else "same"
        else:
            status = "added" if fa is None else "removed"
        counts[status] += 1
        any_side = fa or fb
        assert any_side is not None
        entry = {
            "a_span_id": fa.span.span_id if fa is not None else None,
            "b_span_id": fb.span.span_id if fb is not None else None,
            "status": status,
            "name": any_side.span.name,
            "kind": any_side.kind,
            "depth": depth,
            "changes": changes,
            "deltas": _deltas(fa, fb),
        }
        entries.append(entry)
        if status in ("added", "removed") or any(c in changes for c in DIVERGENCE_CHANGES):
            offset = min(f.offset_ns for f in (fa, fb) if f is not None)
            if first_offset is None or offset < first_offset:
                first_offset = offset
                first = (status, fa, fb, changes, entry)
    first_divergence = None
    if first is not None:
        status, fa, fb, changes, entry = first
        first_divergence = {
            "kind": entry["status"],
            "name": entry["name"],
            "a_span_id": entry["a_span_id"],
            "b_span_id": entry["b_span_id"],
            "reason": _reason(status, fa, fb, changes),
        }
    totals_a, totals_b = _totals(side_a), _totals(side_b)
    delta = {
        name: _minus(totals_b[name], totals_a[name])
        if name != "cost_usd" or (totals_a[name] is not None and totals_b[name] is not None)
        else None
        for name in totals_a
    }
    return {
        "a": _summary(a),
        "b": _summary(b),
        "first_divergence": first_divergence,
        "tool_calls": {"a": _tool_calls(side_a), "b": _tool_calls(side_b)},
        "spans": entries,
        "totals": {"a": totals_a, "b": totals_b, "delta": delta, "counts": counts},
        "alignment": "approximate" if budget.approximate else "exact",
    }
