"""Structural diff of two traces: alignment, changes, first divergence, limits."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from compare_helpers import BASE_NS, MS, build, chain, node, statuses

from spanlink.receiver.compare import MAX_DIFF_SPANS, TraceTooLarge, diff_traces
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.semconv import attributes as a


def agent(*steps: Any) -> Any:
    return node("agent", *steps, **{a.GEN_AI_OPERATION_NAME: a.OP_INVOKE_AGENT})


def llm(model: str = "gpt-4o", **kw: Any) -> Any:
    return node("chat", model=model, **kw)


def tool(name: str, args: str = "{}", **kw: Any) -> Any:
    return node("execute_tool", tool=name, args=args, **kw)


def assert_each_span_once(diff: dict[str, Any], ta: Trace, tb: Trace) -> None:
    a_ids = Counter(e["a_span_id"] for e in diff["spans"] if e["a_span_id"] is not None)
    b_ids = Counter(e["b_span_id"] for e in diff["spans"] if e["b_span_id"] is not None)
    assert a_ids == Counter(s.span_id for s in ta.spans)
    assert b_ids == Counter(s.span_id for s in tb.spans)


def test_identical_structure_is_all_same_with_no_divergence() -> None:
    spec = agent(llm(), tool("search", '{"q": "x"}'), llm())
    ta, tb = build(spec, prefix="a"), build(spec, prefix="b")
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same"] * 4
    assert diff["first_divergence"] is None
    assert diff["alignment"] == "exact"
    assert diff["totals"]["counts"] == {"same": 4, "changed": 0, "added": 0, "removed": 0}
    assert [t["name"] for t in diff["tool_calls"]["a"]] == ["search"]


def test_inserted_tool_call_is_one_added_span_and_the_first_divergence() -> None:
    ta = build(agent(llm(), tool("search"), llm(), tool("answer"), llm()), prefix="a")
    tb = build(
        agent(llm(), tool("search"), tool("fetch"), llm(), tool("answer"), llm()), prefix="b"
    )
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same", "same", "same", "added", "same", "same", "same"]
    first = diff["first_divergence"]
    added = diff["spans"][3]
    assert first == {
        "kind": "added",
        "name": "execute_tool",
        "a_span_id": None,
        "b_span_id": added["b_span_id"],
        "reason": "execute_tool span 'execute_tool' only in b",
    }
    assert [t["name"] for t in diff["tool_calls"]["b"]] == ["search", "fetch", "answer"]
    assert diff["totals"]["delta"]["tool_calls"] == 1
    assert_each_span_once(diff, ta, tb)


def test_removed_subtree_is_removed_whole_and_diverges_at_its_root() -> None:
    sub = node("retrieve", tool("vector_search"), llm("rerank-1"))
    ta = build(agent(llm(), sub, llm()), prefix="a")
    tb = build(agent(llm(), llm()), prefix="b")
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same", "same", "removed", "removed", "removed", "same"]
    assert [e["depth"] for e in diff["spans"]] == [0, 1, 1, 2, 2, 1]
    assert diff["first_divergence"]["kind"] == "removed"
    assert diff["first_divergence"]["name"] == "retrieve"
    assert_each_span_once(diff, ta, tb)


def test_reordered_tools_are_one_match_one_removal_one_addition() -> None:
    ta = build(agent(tool("search"), tool("fetch")), prefix="a")
    tb = build(agent(tool("fetch"), tool("search")), prefix="b")
    diff = diff_traces(ta, tb)
    assert Counter(statuses(diff)) == {"same": 2, "added": 1, "removed": 1}
    assert diff["first_divergence"] is not None
    assert [t["name"] for t in diff["tool_calls"]["a"]] == ["search", "fetch"]
    assert [t["name"] for t in diff["tool_calls"]["b"]] == ["fetch", "search"]


def test_repeated_sibling_names_align_in_order() -> None:
    loop = [llm(), tool("step")] * 3
    ta = build(agent(*loop, llm()), prefix="a")
    tb = build(agent(*loop, llm(), tool("step"), llm()), prefix="b")
    diff = diff_traces(ta, tb)
    assert Counter(statuses(diff)) == {"same": 8, "added": 2}
    assert_each_span_once(diff, ta, tb)


def test_model_change_is_a_changed_span_not_an_addition() -> None:
    ta = build(agent(llm("gpt-4o"), tool("search")), prefix="a")
    tb = build(agent(llm("gpt-4o-mini"), tool("search")), prefix="b")
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same", "changed", "same"]
    assert diff["spans"][1]["changes"]["model"] == {"a": "gpt-4o", "b": "gpt-4o-mini"}
    first = diff["first_divergence"]
    assert first["kind"] == "changed"
    assert first["reason"] == "model gpt-4o -> gpt-4o-mini"


def test_tool_arguments_and_status_changes_diverge_and_are_hashed() -> None:
    ta = build(agent(tool("search", '{"q": "secret-a"}')), prefix="a")
    tb = build(agent(tool("search", '{"q": "secret-b"}', status="ERROR")), prefix="b")
    diff = diff_traces(ta, tb)
    changes = diff["spans"][1]["changes"]
    assert changes["status"] == {"a": "OK", "b": "ERROR"}
    assert changes["tool_arguments"]["a"].startswith("sha256:")
    assert changes["tool_arguments"]["a"] != changes["tool_arguments"]["b"]
    assert diff["first_divergence"]["reason"] == "tool arguments changed; status OK -> ERROR"
    assert "secret" not in json.dumps(diff)


def test_content_changes_are_reported_by_hash_and_are_not_a_divergence() -> None:
    messages = a.GEN_AI_OUTPUT_MESSAGES
    ta = build(agent(llm(**{messages: '[{"text": "private answer one"}]'})), prefix="a")
    tb = build(agent(llm(**{messages: '[{"text": "private answer two"}]'})), prefix="b")
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same", "changed"]
    content = diff["spans"][1]["changes"]["content"]
    assert set(content) == {messages}
    assert content[messages]["a"] != content[messages]["b"]
    assert diff["first_divergence"] is None
    assert "private" not in json.dumps(diff)


def test_finish_reasons_change_is_reported() -> None:
    reasons = a.GEN_AI_RESPONSE_FINISH_REASONS
    ta = build(llm(**{reasons: ["stop"]}), prefix="a")
    tb = build(llm(**{reasons: ["length"]}), prefix="b")
    changes = diff_traces(ta, tb)["spans"][0]["changes"]
    assert changes["finish_reasons"] == {"a": ["stop"], "b": ["length"]}


def test_token_latency_and_cost_deltas_use_the_cost_plugins_results() -> None:
    usage_a = {a.GEN_AI_USAGE_INPUT_TOKENS: 100, a.GEN_AI_USAGE_OUTPUT_TOKENS: 20}
    usage_b = {a.GEN_AI_USAGE_INPUT_TOKENS: 150, a.GEN_AI_USAGE_OUTPUT_TOKENS: 20}
    ta = build(llm(duration_ms=10, **usage_a), prefix="a")
    tb = build(llm(duration_ms=35, **usage_b), prefix="b")
    cost_a = {ta.spans[0].span_id: {"cost": {"status": "ok", "total_cost": 0.002}}}
    cost_b = {tb.spans[0].span_id: {"cost": {"status": "ok", "total_cost": 0.003}}}
    diff = diff_traces(ta, tb, enrichment_a=cost_a, enrichment_b=cost_b)
    deltas = diff["spans"][0]["deltas"]
    assert deltas["duration_ms"] == pytest.approx(25.0)
    assert deltas["input_tokens"] == 50
    assert deltas["output_tokens"] == 0
    assert deltas["cost_usd"] == pytest.approx(0.001)
    assert diff["totals"]["delta"]["cost_usd"] == pytest.approx(0.001)
    # An unpriced side makes the cost unknown, never zero.
    unknown = {tb.spans[0].span_id: {"cost": {"status": "unknown_model", "model": "x"}}}
    diff = diff_traces(ta, tb, enrichment_a=cost_a, enrichment_b=unknown)
    assert diff["spans"][0]["deltas"]["cost_usd"] is None
    assert diff["totals"]["b"]["cost_usd"] is None
    assert diff["totals"]["delta"]["cost_usd"] is None


def test_added_span_deltas_count_the_whole_span() -> None:
    usage = {a.GEN_AI_USAGE_INPUT_TOKENS: 40, a.GEN_AI_USAGE_OUTPUT_TOKENS: 5}
    ta = build(agent(), prefix="a")
    tb = build(agent(llm(duration_ms=7, **usage)), prefix="b")
    added = diff_traces(ta, tb)["spans"][1]
    assert added["status"] == "added"
    assert added["deltas"] == {
        "duration_ms": pytest.approx(7.0),
        "input_tokens": 40,
        "output_tokens": 5,
        "cost_usd": None,
    }


def test_missing_parents_make_roots_that_align_among_themselves() -> None:
    ta = build(agent(llm(), tool("search")), prefix="a")
    tb = build(agent(llm(), tool("search")), prefix="b")
    # Drop the root of both: its children now point at a parent that never arrived.
    ta = Trace(ta.trace_id, [s for s in ta.spans if s.name != "agent"])
    tb = Trace(tb.trace_id, [s for s in tb.spans if s.name != "agent"])
    diff = diff_traces(ta, tb)
    assert statuses(diff) == ["same", "same"]
    assert [e["depth"] for e in diff["spans"]] == [0, 0]


def _cycle(prefix: str) -> Trace:
    tid = prefix * 32
    spans = [
        SpanRecord(tid, f"{prefix}1", "root", BASE_NS, BASE_NS + MS),
        SpanRecord(tid, f"{prefix}2", "x", BASE_NS + MS, BASE_NS + 2 * MS, f"{prefix}3"),
        SpanRecord(tid, f"{prefix}3", "y", BASE_NS + 2 * MS, BASE_NS + 3 * MS, f"{prefix}2"),
        SpanRecord(tid, f"{prefix}4", "self", BASE_NS + 3 * MS, BASE_NS + 4 * MS, f"{prefix}4"),
    ]
    return Trace(tid, spans)


def test_parent_cycles_end_and_every_span_appears_once() -> None:
    ta, tb = _cycle("a"), _cycle("b")
    diff = diff_traces(ta, tb)
    assert set(statuses(diff)) == {"same"}
    assert_each_span_once(diff, ta, tb)
    other = build(node("root"), prefix="c")
    diff = diff_traces(ta, other)
    assert_each_span_once(diff, ta, other)


def test_a_5000_deep_tree_diffs_without_recursion() -> None:
    ta = build(chain(5000), prefix="a")
    tb = build(chain(5000, leaf=node("leaf", tool("late"))), prefix="b")
    assert len(ta.spans) == 5000
    diff = diff_traces(ta, tb)
    assert Counter(statuses(diff)) == {"same": 5000, "added": 1}
    assert diff["spans"][-1]["depth"] == 5000
    assert diff["first_divergence"]["b_span_id"] == diff["spans"][-1]["b_span_id"]


def test_10000_sibling_traces_are_aligned_greedily_and_completely() -> None:
    steps_a = [tool(f"t{i % 50}") for i in range(10_000)]
    steps_b = list(steps_a)
    steps_b.insert(5000, tool("inserted"))
    del steps_b[100]
    ta = build(node("root", *steps_a[:9_999]), prefix="a")
    tb = build(node("root", *steps_b[:9_999]), prefix="b")
    diff = diff_traces(ta, tb)
    counts = Counter(statuses(diff))
    assert counts["added"] >= 1 and counts["removed"] >= 1
    assert counts["same"] >= 9_990
    assert_each_span_once(diff, ta, tb)


def test_reordered_large_groups_fall_back_to_an_approximate_alignment() -> None:
    ta = build(node("root", *[tool(f"t{i}") for i in range(800)]), prefix="a")
    tb = build(node("root", *[tool(f"t{(i * 7) % 800}") for i in range(800)]), prefix="b")
    diff = diff_traces(ta, tb)
    assert diff["alignment"] == "approximate"
    assert_each_span_once(diff, ta, tb)


def test_more_spans_than_the_limit_is_refused_with_the_limit() -> None:
    big = build(node("root", *[node("s") for _ in range(MAX_DIFF_SPANS)]), prefix="a")
    small = build(node("root"), prefix="b")
    with pytest.raises(TraceTooLarge) as caught:
        diff_traces(small, big)
    assert caught.value.side == "b"
    assert caught.value.limit == MAX_DIFF_SPANS
    assert str(MAX_DIFF_SPANS) in str(caught.value)


def test_first_divergence_is_the_earliest_in_execution_order() -> None:
    # b changes a late tool's arguments and adds an early call: the early one is first.
    ta = build(agent(llm(), tool("search", "1"), llm(), tool("answer", "1")), prefix="a")
    tb = build(
        agent(tool("warmup"), llm(), tool("search", "1"), llm(), tool("answer", "2")), prefix="b"
    )
    first = diff_traces(ta, tb)["first_divergence"]
    assert first["kind"] == "added" and first["name"] == "execute_tool"
    assert first["b_span_id"] == tb.spans[1].span_id


def test_diff_is_deterministic() -> None:
    ta = build(agent(tool("x"), tool("y"), tool("x"), llm()), prefix="a")
    tb = build(agent(tool("y"), tool("x"), llm("other"), tool("x")), prefix="b")
    assert json.dumps(diff_traces(ta, tb)) == json.dumps(diff_traces(ta, tb))
