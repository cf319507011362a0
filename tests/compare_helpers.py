"""Builders of traces and runs for the comparison tests (imported as ``compare_helpers``).

A trace is written as nested nodes, ``node("llm", model="gpt-4o", children=[...])``; start
times follow pre-order, one millisecond apart, so execution order is the written order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from spanlink.receiver.compare import CaseResult, RunRecord
from spanlink.tracer.model import Score, SpanRecord, Trace
from spanlink.tracer.semconv import attributes as a

MS = 1_000_000
BASE_NS = 1_700_000_000 * 1_000_000_000


@dataclass
class Node:
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    status: str = "OK"
    duration_ms: float = 1.0


def node(
    name: str,
    *children: Node,
    model: str | None = None,
    tool: str | None = None,
    args: Any = None,
    status: str = "OK",
    duration_ms: float = 1.0,
    **attributes: Any,
) -> Node:
    attrs = dict(attributes)
    if model is not None:
        attrs[a.GEN_AI_OPERATION_NAME] = a.OP_CHAT
        attrs[a.GEN_AI_REQUEST_MODEL] = model
    if tool is not None:
        attrs[a.GEN_AI_OPERATION_NAME] = a.OP_EXECUTE_TOOL
        attrs[a.GEN_AI_TOOL_NAME] = tool
    if args is not None:
        attrs[a.GEN_AI_TOOL_CALL_ARGUMENTS] = args
    return Node(name, attrs, list(children), status, duration_ms)


def build(*roots: Node, prefix: str = "a", trace_id: str | None = None) -> Trace:
    """A trace of these root nodes; span ids are ``prefix`` plus a counter (16 hex digits)."""
    tid = trace_id or (prefix.encode().hex() * 32)[:32]
    ids = itertools.count(1)
    spans: list[SpanRecord] = []
    clock = itertools.count()
    stack: list[tuple[Node, str | None]] = [(root, None) for root in reversed(roots)]
    while stack:
        item, parent = stack.pop()
        span_id = f"{prefix.encode().hex()[:4]}{next(ids):012x}"
        start = BASE_NS + next(clock) * MS
        spans.append(
            SpanRecord(
                trace_id=tid,
                span_id=span_id,
                parent_span_id=parent,
                name=item.name,
                start_time_unix_nano=start,
                end_time_unix_nano=start + int(item.duration_ms * MS),
                status_code=item.status,
                attributes=dict(item.attributes),
            )
        )
        stack.extend((child, span_id) for child in reversed(item.children))
    return Trace(trace_id=tid, spans=spans)


def chain(depth: int, *, leaf: Node | None = None) -> Node:
    """A path of ``depth`` nested spans (built without recursion), ``leaf`` at the bottom."""
    bottom = leaf or node("leaf")
    for level in range(depth - 1, 0, -1):
        bottom = node(f"level{level % 7}", bottom)
    return bottom


def statuses(diff: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in diff["spans"]]


def case(
    case_id: str,
    status: str = "passed",
    *,
    scores: dict[str, tuple[float | None, bool | None]] | None = None,
    latency_ms: float | None = 100.0,
    tokens: int | None = 100,
    cost_usd: float | None = 0.001,
    anomalies: frozenset[str] = frozenset(),
) -> CaseResult:
    return CaseResult(
        case_id=case_id,
        status=status,
        scores={
            name: Score(name=name, value=value, passed=passed)
            for name, (value, passed) in (scores or {}).items()
        },
        latency_ms=latency_ms,
        tokens=tokens,
        cost_usd=cost_usd,
        anomalies=anomalies,
        trace_ids=(f"trace-{case_id}",),
        result_id=f"result-{case_id}",
    )


def run(
    run_id: str, *cases: CaseResult, dataset: str | None = "ds", commit: str | None = None
) -> RunRecord:
    return RunRecord(id=run_id, cases=list(cases), dataset=dataset, commit=commit or f"c-{run_id}")
