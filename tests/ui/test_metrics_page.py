"""Metrics: latency percentiles and error rate over time, cost and tokens by model (SVG)."""

from __future__ import annotations

from ui_helpers import screenshot, send_agent_trace, sign_in, wait_for_enrichment, wait_rendered


def test_metrics_charts(page, receiver, api_key, client) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    wait_for_enrichment(client, trace_id)
    sign_in(page, receiver.url, api_key, "#/metrics?range=1h")
    wait_rendered(page, "metrics")
    captions = page.eval_on_selector_all(
        "figure.chart-box figcaption > span:first-child", "n => n.map(x => x.textContent)"
    )
    assert captions == [
        "Trace latency",
        "Error rate (traces with an error)",
        "Cost by model",
        "Tokens by model (input + output)",
    ]
    stats = page.text_content(".stats")
    assert "Traces1" in stats and "Error rate100%" in stats and "Tokens1,870" in stats
    # One point per percentile in the bucket holding the trace; one error bar.
    assert page.eval_on_selector_all(".s-p50 circle", "n => n.length") == 1
    bars = page.eval_on_selector_all(
        "rect.bar.error", "n => n.filter(r => +r.getAttribute('height') > 0).length"
    )
    assert bars == 1
    model_rows = page.eval_on_selector_all(
        "figure:nth-of-type(4) .hrow text.label:first-child", "n => n.map(x => x.textContent)"
    )
    assert model_rows == ["gpt-4o", "gpt-4o-mini"]
    cost_rows = page.eval_on_selector_all(
        "figure:nth-of-type(3) .hrow text.label:first-child", "n => n.map(x => x.textContent)"
    )
    assert cost_rows == ["gpt-4o", "gpt-4o-mini"]
    assert page.get_attribute(".range a[aria-current=page]", "href") == "#/metrics?range=1h"
    screenshot(page, "metrics", full_page=True)
    page.problems.assert_clean()


def test_metrics_without_traces(page, receiver, api_key) -> None:
    sign_in(page, receiver.url, api_key, "#/metrics")
    wait_rendered(page, "metrics")
    assert "No traces in the last 24 hours." in page.text_content("#view")
