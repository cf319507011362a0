"""The builtin trace evaluators, on traces built from spans and on the real cost and anomaly
plugins' enrichment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spanlink.plugins.evals import ParamError, builtin_evaluators
from spanlink.tracer.model import Case, Score, SpanRecord, Trace
from spanlink.tracer.plugins import call_each, load_plugins

from .conftest import SpanFactory, llm_attributes

EVALUATORS = {e.name: e for e in builtin_evaluators()}


def run(
    name: str,
    trace: Trace | None,
    params: dict[str, Any] | None = None,
    *,
    enrichment: dict[str, Any] | None = None,
    threshold: float | None = None,
) -> Score:
    evaluator = EVALUATORS[name]
    assert evaluator.needs_trace
    evaluator.validate(params or {})
    score = evaluator.evaluate(
        Case("c"), "out", trace, params=params or {}, threshold=threshold, enrichment=enrichment
    )
    assert isinstance(score, Score)
    return score


def tool(make_span: SpanFactory, name: str, start_ms: float, **arguments: Any) -> SpanRecord:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if arguments:
        attributes["gen_ai.tool.call.arguments"] = json.dumps(arguments)
    return make_span(f"execute_tool {name}", attributes, start_ms=start_ms)


@pytest.fixture
def agent(make_span: SpanFactory) -> Trace:
    """An agent run: two model calls and three tool calls, one of which failed."""
    root = make_span("agent", {"gen_ai.operation.name": "invoke_agent"}, duration_ms=1500)
    spans = [
        root,
        make_span("chat gpt-4o", llm_attributes(), start_ms=10, parent=root.span_id),
        tool(make_span, "search", 100, query="weather oslo", limit=3),
        tool(make_span, "fetch", 200, url="https://example.test"),
        make_span(
            "execute_tool search",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            start_ms=300,
            status="ERROR",
            status_message="rate limited",
        ),
        make_span("chat gpt-4o", llm_attributes(input_tokens=200, output_tokens=50), start_ms=400),
        make_span(
            "embeddings",
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 7,
            },
        ),
    ]
    return Trace.from_spans(spans)


def enrich(trace: Trace) -> dict[str, Any]:
    """The enrichment the receiver stores, computed by the real installed plugins."""
    manager, _ = load_plugins(disabled=frozenset())
    span_results: dict[str, dict[str, Any]] = {}
    for span in trace.spans:
        results, errors = call_each(manager, "spanlink_enrich_span", span=span, context={})
        assert not errors
        span_results[span.span_id] = results
    results, errors = call_each(
        manager, "spanlink_enrich_trace", trace=trace, span_results=span_results, context={}
    )
    assert not errors
    return {"spans": span_results, "trace": results}


def test_tool_called(agent: Trace) -> None:
    score = run("tool_called", agent, {"name": "search"})
    assert score.passed is True and score.span_id == agent.spans[2].span_id
    assert run("tool_called", agent, {"name": "book"}).passed is False
    matched = run("tool_called", agent, {"name": "search", "arguments": {"query": "weather oslo"}})
    assert matched.passed is True and matched.span_id == agent.spans[2].span_id
    wrong = run("tool_called", agent, {"name": "search", "arguments": {"query": "paris"}})
    assert wrong.passed is False and "never with arguments" in (wrong.explanation or "")


def test_tool_not_called(agent: Trace) -> None:
    assert run("tool_not_called", agent, {"name": "delete_account"}).passed is True
    fetch = run("tool_not_called", agent, {"name": "fetch"})
    assert fetch.passed is False and fetch.span_id == agent.spans[3].span_id


def test_tool_order_is_a_subsequence_by_start_time(agent: Trace) -> None:
    assert run("tool_order", agent, {"names": ["search", "fetch"]}).passed is True
    assert run("tool_order", agent, {"names": ["search", "search"]}).passed is True
    reversed_order = run("tool_order", agent, {"names": ["fetch", "search", "fetch"]})
    assert reversed_order.passed is False
    assert reversed_order.value == pytest.approx(2 / 3)
    assert "executed: [search, fetch, search]" in (reversed_order.explanation or "")
    assert run("tool_order", agent, {"names": ["fetch", "search", "fetch"]}, threshold=0.6).passed


def test_call_counts(agent: Trace) -> None:
    llm = run("max_llm_calls", agent, {"max": 2})
    assert (llm.value, llm.passed, llm.label) == (2.0, True, "within")  # embeddings excluded
    assert run("max_llm_calls", agent, {"max": 1}).passed is False
    assert run("max_tool_calls", agent, {"max": 3}).passed is True
    over = run("max_tool_calls", agent, {"max": 2})
    assert (over.value, over.passed, over.label) == (3.0, False, "over")


def test_max_latency(agent: Trace) -> None:
    score = run("max_latency_ms", agent, {"max": 2000})
    assert score.passed is True and score.value == pytest.approx(1500.0)
    assert score.span_id == agent.spans[0].span_id
    assert run("max_latency_ms", agent, {"max": 1000}).passed is False


def test_max_tokens(agent: Trace, make_span: SpanFactory) -> None:
    score = run("max_tokens", agent, {"max": 2000})
    assert score.value == 1000 + 500 + 200 + 50 + 7 and score.passed is True
    assert run("max_tokens", agent, {"max": 1000}).passed is False
    streaming = Trace.from_spans(
        [*agent.spans, make_span("chat", llm_attributes(input_tokens=None, output_tokens=None))]
    )
    unknown = run("max_tokens", streaming, {"max": 5000})
    assert unknown.passed is None and "report no usage" in (unknown.error or "")
    assert run("max_tokens", streaming, {"max": 100}).passed is False  # already over


def test_no_error_spans(agent: Trace, make_span: SpanFactory) -> None:
    score = run("no_error_spans", agent)
    assert score.passed is False and score.span_id == agent.spans[4].span_id
    assert "rate limited" in (score.explanation or "")
    assert run("no_error_spans", Trace.from_spans([make_span("ok")])).passed is True


def test_span_exists(agent: Trace) -> None:
    assert run("span_exists", agent, {"name": "agent"}).passed is True
    found = run("span_exists", agent, {"attributes": {"gen_ai.tool.name": "fetch"}})
    assert found.passed is True and found.span_id == agent.spans[3].span_id
    nested = run(
        "span_exists",
        agent,
        {"name": "execute_tool search", "attributes": {"gen_ai.tool.call.arguments": '{"x": 1}'}},
    )
    assert nested.passed is False
    assert run("span_exists", agent, {"name": "nope"}).passed is False


def test_max_cost_from_the_cost_plugin(agent: Trace) -> None:
    enrichment = enrich(agent)
    total = enrichment["trace"]["cost"]["total_cost"]
    assert total > 0 and enrichment["trace"]["cost"]["complete"] is True
    score = run("max_cost_usd", agent, {"max": 1.0}, enrichment=enrichment)
    assert (score.passed, score.value) == (True, pytest.approx(total))
    assert run("max_cost_usd", agent, {"max": total / 2}, enrichment=enrichment).passed is False


def test_unknown_cost_is_never_zero(agent: Trace, make_span: SpanFactory) -> None:
    none = run("max_cost_usd", agent, {"max": 1.0}, enrichment=None)
    assert none.passed is None and none.value is None and "cost is unknown" in (none.error or "")
    no_llm = Trace.from_spans([make_span("plain work")])
    assert run("max_cost_usd", no_llm, {"max": 1.0}, enrichment=enrich(no_llm)).passed is None
    unpriced = Trace.from_spans(
        [*agent.spans, make_span("chat", llm_attributes(model="house-model-unknown-7"))]
    )
    enrichment = enrich(unpriced)
    assert enrichment["trace"]["cost"]["complete"] is False
    partial = run("max_cost_usd", unpriced, {"max": 1.0}, enrichment=enrichment)
    assert partial.passed is None and "house-model-unknown-7" in (partial.error or "")
    assert run("max_cost_usd", unpriced, {"max": 0.0001}, enrichment=enrichment).passed is False


def test_no_anomaly_reads_the_anomaly_plugin(agent: Trace) -> None:
    enrichment = enrich(agent)
    rules = {f["rule"] for f in enrichment["trace"]["anomaly"]["anomalies"]}
    assert "error_span" in rules
    found = run("no_anomaly", agent, {"kinds": ["error_span"]}, enrichment=enrichment)
    assert found.passed is False and found.span_id == agent.spans[4].span_id
    assert run("no_anomaly", agent, {"kinds": ["tool_loop"]}, enrichment=enrichment).passed is True
    assert run("no_anomaly", agent, enrichment=enrichment).passed is False  # every kind
    assert run("no_anomaly", agent, {"min_severity": "critical"}, enrichment=enrichment).passed
    unknown = run("no_anomaly", agent, enrichment={"trace": {}})
    assert unknown.passed is None and "anomalies are unknown" in (unknown.error or "")


@pytest.mark.parametrize(
    "name",
    [
        "tool_called",
        "tool_not_called",
        "tool_order",
        "max_llm_calls",
        "max_tool_calls",
        "max_latency_ms",
        "max_tokens",
        "no_error_spans",
        "span_exists",
    ],
)
def test_no_linked_trace_gives_no_verdict(name: str) -> None:
    params = {
        "tool_called": {"name": "x"},
        "tool_not_called": {"name": "x"},
        "tool_order": {"names": ["x"]},
        "span_exists": {"name": "x"},
        "no_error_spans": {},
    }.get(name, {"max": 1})
    score = run(name, None, params)
    assert score.passed is None and "no trace is linked" in (score.error or "")


def test_wrong_attribute_types_never_raise(make_span: SpanFactory) -> None:
    odd = make_span(
        "odd",
        {
            "gen_ai.operation.name": ["execute_tool"],
            "gen_ai.tool.name": {"x": 1},
            "gen_ai.usage.input_tokens": "many",
            "gen_ai.tool.call.arguments": b"\xff",
        },
    )
    trace = Trace.from_spans([odd])
    for name, params in [
        ("tool_called", {"name": "x", "arguments": {"a": 1}}),
        ("tool_order", {"names": ["x"]}),
        ("max_llm_calls", {"max": 1}),
        ("max_tokens", {"max": 1}),
        ("span_exists", {"attributes": {"gen_ai.tool.name": {"x": 1}}}),
    ]:
        run(name, trace, params)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("tool_called", {}, "'name' is required"),
        ("tool_called", {"name": "x", "arguments": "a=1"}, "'arguments' must be an object"),
        ("tool_order", {"names": "search"}, "non-empty list"),
        ("tool_order", {"names": []}, "non-empty list"),
        ("max_cost_usd", {}, "'max' is required"),
        ("max_tokens", {"max": -1}, "at least 0"),
        ("max_latency_ms", {"max": "1s"}, "finite number"),
        ("no_error_spans", {"strict": True}, "unknown parameter(s) 'strict'"),
        ("no_anomaly", {"kinds": "slow_span"}, "non-empty list"),
        ("no_anomaly", {"min_severity": "huge"}, "must be one of"),
        ("span_exists", {}, "give 'name', 'attributes' or both"),
    ],
)
def test_bad_params(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError, match=None) as caught:
        EVALUATORS[name].validate(params)
    assert message in str(caught.value)
