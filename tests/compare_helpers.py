"""Builders of traces and runs for the comparison tests (imported as ``compare_helpers``).

A trace is written as nested nodes, ``node("llm", model="gpt-4o", children=[...])``; start
times follow pre-order, one millisecond apart, so execution order is the written order.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

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


T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def insert_run(
    database_url: str,
    project_id: int,
    results: dict[str, dict[str, Any]],
    *,
    branch: str = "main",
    dataset: str = "qa",
    minutes: int = 0,
    base_branch: str | None = None,
    status: str = "completed",
) -> str:
    """A finished run, one result per case: ``{case_id: {"status", "duration_ms", "scores"}}``
    (and optionally ``"id"``, ``"input"``, ``"output"``, ``"expected"``)."""
    run_id = str(uuid.uuid4())
    created = T0 + timedelta(minutes=minutes)
    git = {"branch": branch, "commit": f"commit-{minutes}"}
    if base_branch:
        git["base_branch"] = base_branch
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO test_runs (project_id, id, name, status, metadata, created_at, "
            "started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (project_id, run_id, f"run {minutes}", status,
             json.dumps({"dataset_id": dataset, "git": git}), created, created, created),
        )  # fmt: skip
        for case_id, result in results.items():
            meta: dict[str, Any] = {"scores": result.get("scores", [])}
            if "expected" in result:
                meta |= {"has_expected": True, "expected_output": result["expected"]}
            connection.execute(
                "INSERT INTO test_results (project_id, id, run_id, case_id, status, duration_ms, "
                "metadata, input, output, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (project_id, result.get("id", str(uuid.uuid4())), run_id, case_id,
                 result.get("status", "passed"), result.get("duration_ms", 100.0),
                 json.dumps(meta), json.dumps(result["input"]) if "input" in result else None,
                 json.dumps(result["output"]) if "output" in result else None, created),
            )  # fmt: skip
    return run_id


def score(name: str, value: float, passed: bool | None = None) -> dict[str, Any]:
    return {"name": name, "value": value, "passed": passed}
