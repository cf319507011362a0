"""The anomaly plugin: every rule, its configuration, and the rollup, through pluggy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from plugin_helpers import enrich_spans

from spanlink.plugins.anomaly import AnomalyConfigError, env_settings
from spanlink.plugins.anomaly import plugin as anomaly_plugin
from spanlink.plugins.cost import plugin as cost_plugin
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import call_each, get_plugin_manager

FINDING_KEYS = {"rule", "span_id", "severity", "message", "value", "threshold"}


def enrich(
    spans: list[SpanRecord], context: Mapping[str, Any] | None = None, *, with_cost: bool = True
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the plugins the way a host does; return (span_results, trace results)."""
    manager = get_plugin_manager()
    manager.register(anomaly_plugin, name="anomaly")
    if with_cost:
        manager.register(cost_plugin, name="cost")
    span_results, results = enrich_spans(manager, spans, context)
    json.dumps(results)  # stored as JSON by the receiver
    return span_results, results


def findings(trace_results: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    found = [f for f in trace_results["anomaly"]["anomalies"] if f["rule"] == rule]
    for item in found:
        assert set(item) == FINDING_KEYS
    return found


def test_clean_trace_has_an_empty_rollup(make_span: Any, llm: Any) -> None:
    spans = [make_span("agent"), make_span("chat", llm("gpt-4o", 100, 50))]
    span_results, results = enrich(spans)
    assert all("anomaly" not in by_plugin for by_plugin in span_results.values())
    assert results["anomaly"] == {
        "anomalies": [],
        "counts": {},
        "total": 0,
        "worst_severity": None,
    }


def test_slow_span_absolute(make_span: Any) -> None:
    slow = make_span("fetch", duration_ms=61_000)
    span_results, results = enrich([slow, make_span("quick", duration_ms=5)])
    assert span_results[slow.span_id]["anomaly"]["rules"] == "slow_span"
    [found] = findings(results, "slow_span")
    assert found["span_id"] == slow.span_id
    assert found["value"] == pytest.approx(61_000)
    assert found["threshold"] == 60_000
    assert found["severity"] == "warning"
    assert "'fetch' took 61000 ms" in found["message"]


def test_slow_span_relative_to_baseline(make_span: Any) -> None:
    spans = [
        make_span("search", duration_ms=400),  # 2x p95: flagged
        make_span("search", duration_ms=250),  # 1.25x: under the 1.5x factor
        make_span("rare", duration_ms=900),  # baseline too small to judge
        make_span("tiny", duration_ms=3),  # above p95 but under min_ms
    ]
    baselines = {
        "search": {"p95_ms": 200.0, "count": 500},
        "rare": {"p95_ms": 100.0, "count": 5},
        "tiny": {"p95_ms": 1.0, "count": 500},
    }
    _, results = enrich(spans, {"baselines": baselines})
    [found] = findings(results, "slow_span")
    assert found["span_id"] == spans[0].span_id
    assert found["threshold"] == pytest.approx(300.0)
    assert "2.0x the p95 of 200 ms" in found["message"]


def test_slow_span_not_reported_twice(make_span: Any) -> None:
    span = make_span("search", duration_ms=70_000)
    _, results = enrich([span], {"baselines": {"search": {"p95_ms": 200.0, "count": 500}}})
    assert len(findings(results, "slow_span")) == 1


def test_error_span(make_span: Any) -> None:
    failed = make_span(
        "execute_tool search",
        {"error.type": "TimeoutError"},
        status="ERROR",
        status_message="upstream timed out",
    )
    _, results = enrich([failed])
    [found] = findings(results, "error_span")
    assert found["severity"] == "error"
    assert found["value"] == "TimeoutError"
    assert found["message"] == "'execute_tool search' failed: TimeoutError: upstream timed out"
    assert results["anomaly"]["worst_severity"] == "error"


def test_token_spike_absolute_and_relative(make_span: Any, llm: Any) -> None:
    huge = make_span("chat huge", llm("gpt-4o-mini", 150_000, 1_000))
    normal = [make_span(f"chat {i}", llm("gpt-4o-mini", 900, 100)) for i in range(4)]
    spiky = make_span("chat spiky", llm("gpt-4o-mini", 9_000, 1_000))  # 10x the median
    _, results = enrich([huge, *normal, spiky])
    by_span = {f["span_id"]: f for f in findings(results, "token_spike")}
    assert set(by_span) == {huge.span_id, spiky.span_id}  # huge reported once, not twice
    assert by_span[huge.span_id]["value"] == 151_000
    assert by_span[huge.span_id]["threshold"] == 100_000
    assert by_span[spiky.span_id]["value"] == 10_000
    assert by_span[spiky.span_id]["threshold"] == pytest.approx(5_000)


def test_token_spike_needs_enough_calls_to_compare(make_span: Any, llm: Any) -> None:
    spans = [
        make_span("chat a", llm("gpt-4o-mini", 100, 10)),
        make_span("chat b", llm("gpt-4o-mini", 50_000, 10)),
    ]
    _, results = enrich(spans)
    assert findings(results, "token_spike") == []


def test_cost_spike_reads_the_cost_plugin(make_span: Any, llm: Any) -> None:
    cheap = [make_span(f"chat {i}", llm("gpt-4o", 1_000, 100)) for i in range(4)]  # $0.0035
    pricey = make_span("chat pricey", llm("o1", 20_000, 5_000))  # $0.30 + $0.30 = $0.60
    _, results = enrich([*cheap, pricey])
    found = findings(results, "cost_spike")
    assert [f["span_id"] for f in found] == [pricey.span_id]
    assert found[0]["value"] == pytest.approx(20_000 * 1.5e-05 + 5_000 * 6e-05)
    assert found[0]["threshold"] == 0.5
    assert "over the $0.5 limit per call" in found[0]["message"]


def test_cost_spike_relative_and_per_trace(make_span: Any, llm: Any) -> None:
    spans = [make_span(f"chat {i}", llm("gpt-4o", 1_000, 100)) for i in range(4)]
    spans.append(make_span("chat big", llm("gpt-4o", 20_000, 1_000)))  # ~17x the median
    config = {"anomaly": {"cost_spike": {"max_trace_usd": 0.05}}}
    _, results = enrich(spans, {"config": config})
    found = findings(results, "cost_spike")
    relative = [f for f in found if f["span_id"] == spans[-1].span_id]
    whole = [f for f in found if f["span_id"] is None]
    assert len(relative) == 1 and "the trace's median call" in relative[0]["message"]
    assert len(whole) == 1 and whole[0]["value"] == pytest.approx(4 * 0.0035 + 0.06)
    assert whole[0]["threshold"] == 0.05


def test_cost_spike_without_cost_results_is_silent(make_span: Any, llm: Any) -> None:
    spans = [make_span("chat", llm("o1", 100_000, 50_000))]
    _, results = enrich(spans, with_cost=False)
    assert findings(results, "cost_spike") == []


def _tool(make_span: Any, name: str, arguments: str | None, start_ms: float) -> SpanRecord:
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if arguments is not None:
        attributes["gen_ai.tool.call.arguments"] = arguments
    span: SpanRecord = make_span(f"execute_tool {name}", attributes, start_ms=start_ms)
    return span


def test_tool_loop(make_span: Any) -> None:
    calls = [
        _tool(make_span, "search", '{"q": "weather", "n": 3}', 0),
        _tool(make_span, "search", '{"n": 3, "q": "weather"}', 10),  # same, other key order
        _tool(make_span, "search", '{"q":"weather","n":3}', 20),
        _tool(make_span, "search", '{"q": "weather", "n": 3}', 30),
        _tool(make_span, "search", '{"q": "news", "n": 3}', 40),
    ]
    _, results = enrich(calls)
    [found] = findings(results, "tool_loop")
    assert found["value"] == 4 and found["threshold"] == 3
    assert found["span_id"] == calls[3].span_id
    assert found["message"] == "tool 'search' called 4 times in a row with the same arguments"


def test_tool_calls_that_are_not_a_loop(make_span: Any) -> None:
    interrupted = [
        _tool(make_span, "search", '{"q": "a"}', 0),
        _tool(make_span, "search", '{"q": "a"}', 10),
        _tool(make_span, "fetch", '{"url": "x"}', 20),
        _tool(make_span, "search", '{"q": "a"}', 30),
    ]
    _, results = enrich(interrupted)
    assert findings(results, "tool_loop") == []
    varied = [_tool(make_span, "search", json.dumps({"q": str(i)}), i * 10) for i in range(5)]
    _, results = enrich(varied)
    assert findings(results, "tool_loop") == []


def test_tool_loop_without_arguments_and_in_start_order(make_span: Any) -> None:
    # Spans arrive out of order; the loop is judged by start time.
    calls = [_tool(make_span, "get_time", None, start) for start in (20, 0, 10)]
    _, results = enrich(calls)
    [found] = findings(results, "tool_loop")
    assert found["span_id"] == calls[0].span_id  # the last call of the run


def _said(*parts: dict[str, Any]) -> str:
    return json.dumps([{"role": "assistant", "parts": list(parts)}])


@pytest.mark.parametrize(
    ("attributes", "empty"),
    [
        ({"gen_ai.usage.output_tokens": 0}, True),
        ({"gen_ai.output.messages": "[]"}, True),
        ({"gen_ai.output.messages": _said({"type": "text", "content": ""})}, True),
        ({"spanlink.output": '""'}, True),
        ({"gen_ai.usage.output_tokens": 12}, False),
        ({"gen_ai.output.messages": _said({"type": "text", "content": "hi"})}, False),
        ({"gen_ai.output.messages": _said({"type": "tool_call", "name": "f"})}, False),
        ({}, False),  # nothing recorded (content capture off, no usage): not judged
    ],
)
def test_empty_output(make_span: Any, attributes: dict[str, Any], empty: bool) -> None:
    span = make_span(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", **attributes},
    )
    _, results = enrich([span], with_cost=False)
    assert len(findings(results, "empty_output")) == (1 if empty else 0)


def test_empty_output_ignores_embeddings_and_failures(make_span: Any) -> None:
    embedding = make_span(
        "embeddings",
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 0,
        },
    )
    failed = make_span(
        "chat", {"gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 0}, status="ERROR"
    )
    _, results = enrich([embedding, failed], with_cost=False)
    assert findings(results, "empty_output") == []
    assert results["anomaly"]["counts"] == {"error_span": 1}


def test_rollup_counts_and_worst_severity(make_span: Any, llm: Any) -> None:
    spans = [
        make_span("chat", llm("gpt-4o", 10, 0)),
        make_span("slow", duration_ms=90_000),
        make_span("boom", status="ERROR"),
        *[_tool(make_span, "search", '{"q": 1}', 100 + i) for i in range(3)],
    ]
    config = {"anomaly": {"tool_loop": {"severity": "critical"}}}
    _, results = enrich(spans, {"config": config})
    rollup = results["anomaly"]
    assert rollup["counts"] == {"empty_output": 1, "error_span": 1, "slow_span": 1, "tool_loop": 1}
    assert rollup["total"] == 4
    assert rollup["worst_severity"] == "critical"
    assert rollup["anomalies"][0]["rule"] == "tool_loop"  # worst first


# --- configuration -----------------------------------------------------------------


def test_context_config_overrides_and_disables(make_span: Any) -> None:
    span = make_span("fetch", duration_ms=2_000, status="ERROR")
    config = {
        "anomaly": {
            "slow_span": {"threshold_ms": 1_000, "severity": "error"},
            "error_span": {"enabled": False},
        }
    }
    _, results = enrich([span], {"config": config})
    assert results["anomaly"]["counts"] == {"slow_span": 1}
    assert results["anomaly"]["anomalies"][0]["severity"] == "error"
    # Other plugins' config in the same mapping is not ours to judge.
    _, results = enrich([span], {"config": {"cost": {"anything": 1}}})
    assert results["anomaly"]["counts"] == {"error_span": 1}


def test_environment_settings(make_span: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_ANOMALY_SLOW_SPAN_THRESHOLD_MS", "500")
    monkeypatch.setenv("SPANLINK_ANOMALY_ERROR_SPAN_ENABLED", "false")
    span = make_span("fetch", duration_ms=600, status="ERROR")
    _, results = enrich([span])
    assert results["anomaly"]["counts"] == {"slow_span": 1}
    # The host's configuration beats the environment.
    _, results = enrich([span], {"config": {"anomaly": {"slow_span": {"threshold_ms": 700}}}})
    assert results["anomaly"]["counts"] == {}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"slow": {}}, "unknown rule 'slow'"),
        ({"slow_span": {"threshold": 5}}, "unknown setting slow_span.threshold;"),
        ({"slow_span": {"threshold_ms": -1}}, "must be a number > 0"),
        ({"slow_span": {"threshold_ms": "fast"}}, "must be a number > 0"),
        ({"tool_loop": {"repeats": 1}}, "at least 2"),
        ({"tool_loop": {"repeats": 2.5}}, "whole number"),
        ({"error_span": {"severity": "fatal"}}, "must be one of info, warning, error, critical"),
        ({"error_span": {"enabled": "maybe"}}, "true or false"),
        ({"error_span": True}, "must be a mapping"),
        (["slow_span"], "must map rule names"),
    ],
)
def test_bad_context_config_fails_clearly_and_loses_nothing(
    make_span: Any, llm: Any, config: Any, expected: str
) -> None:
    manager = get_plugin_manager()
    manager.register(anomaly_plugin, name="anomaly")
    manager.register(cost_plugin, name="cost")
    span = make_span("chat", llm("gpt-4o", 10, 10))
    context = {"config": {"anomaly": config}}
    results, errors = call_each(manager, "spanlink_enrich_span", span=span, context=context)
    assert set(errors) == {"anomaly"}
    assert expected in str(errors["anomaly"])
    assert 'context["config"]["anomaly"]' in str(errors["anomaly"])
    assert results["cost"]["status"] == "ok"  # the other plugin's result is intact


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SPANLINK_ANOMALY_SLOW_SPAN_THRESHOLD_MS", "soon", "environment: slow_span.threshold_ms"),
        (
            "SPANLINK_ANOMALY_SLOWSPAN_MS",
            "5",
            "unknown environment variable SPANLINK_ANOMALY_SLOWSPAN_MS",
        ),
    ],
)
def test_bad_environment_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(AnomalyConfigError, match=expected):
        env_settings()
