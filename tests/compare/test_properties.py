"""Invariants of the structural diff over generated span trees."""

from __future__ import annotations

import random
from collections import Counter

from compare_helpers import build, node
from hypothesis import given, settings
from hypothesis import strategies as st

from spanlink.receiver.compare import diff_traces
from spanlink.tracer.model import SpanRecord, Trace

NAMES = ["chat", "execute_tool", "retrieve", "agent"]
TOOLS = ["search", "fetch", None]


@st.composite
def trees(draw: st.DrawFn) -> list:  # type: ignore[type-arg]
    """Parent indexes (-1 for a root) and a label per span: a random forest of up to 40."""
    size = draw(st.integers(1, 40))
    parents = [draw(st.integers(-1, i - 1)) for i in range(size)]
    labels = [(draw(st.sampled_from(NAMES)), draw(st.sampled_from(TOOLS))) for _ in range(size)]
    return list(zip(parents, labels, strict=True))


def trace_of(forest: list, prefix: str, *, broken: bool = False) -> Trace:  # type: ignore[type-arg]
    """Spans of the forest; ``broken`` points some parents at missing ids or into cycles."""
    tid = prefix * 32
    spans = []
    rng = random.Random(len(forest))
    for i, (parent, (name, tool)) in enumerate(forest):
        attrs = {"gen_ai.tool.name": tool} if tool else {}
        parent_id = f"{prefix}{parent:015x}" if parent >= 0 else None
        if broken and rng.random() < 0.2:
            parent_id = f"{prefix}{rng.randrange(len(forest) + 3):015x}"  # missing or a cycle
        start = 1_000 + i * 10
        spans.append(
            SpanRecord(
                tid, f"{prefix}{i:015x}", name, start, start + 5, parent_id, attributes=attrs
            )
        )
    return Trace(tid, spans)


def each_once(diff: dict, a: Trace, b: Trace) -> None:  # type: ignore[type-arg]
    a_ids = Counter(e["a_span_id"] for e in diff["spans"] if e["a_span_id"])
    b_ids = Counter(e["b_span_id"] for e in diff["spans"] if e["b_span_id"])
    assert a_ids == Counter(s.span_id for s in a.spans)
    assert b_ids == Counter(s.span_id for s in b.spans)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(trees(), st.booleans())
def test_a_trace_against_itself_is_all_same(forest: list, broken: bool) -> None:  # type: ignore[type-arg]
    a = trace_of(forest, "a", broken=broken)
    b = trace_of(forest, "b", broken=broken)
    diff = diff_traces(a, b)
    assert diff["first_divergence"] is None
    assert {e["status"] for e in diff["spans"]} == {"same"}
    each_once(diff, a, b)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(trees(), trees(), st.booleans())
def test_every_span_of_both_traces_appears_exactly_once(
    forest_a: list,  # type: ignore[type-arg]
    forest_b: list,  # type: ignore[type-arg]
    broken: bool,
) -> None:
    a = trace_of(forest_a, "a", broken=broken)
    b = trace_of(forest_b, "b")
    diff = diff_traces(a, b)
    each_once(diff, a, b)
    counts = diff["totals"]["counts"]
    assert counts["same"] + counts["changed"] + counts["removed"] == len(a.spans)
    assert counts["same"] + counts["changed"] + counts["added"] == len(b.spans)
    assert (diff["first_divergence"] is None) == (
        counts["added"] + counts["removed"] == 0
        and not any(
            set(e["changes"]) & {"tool_name", "tool_arguments", "model", "status"}
            for e in diff["spans"]
        )
    )


def test_swapping_sides_swaps_added_and_removed() -> None:
    a = build(node("root", node("x"), node("y"), node("z")), prefix="a")
    b = build(node("root", node("y"), node("w")), prefix="b")
    forward = Counter(e["status"] for e in diff_traces(a, b)["spans"])
    backward = Counter(e["status"] for e in diff_traces(b, a)["spans"])
    assert forward["added"] == backward["removed"]
    assert forward["removed"] == backward["added"]
