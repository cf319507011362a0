"""A 10,000-span trace renders and scrolls: only the rows in view are in the DOM.

No time is asserted here (a loaded machine must not fail the suite): the time to first
render is measured by bench/bench_ui_render.py, with its figures in bench/RESULTS.md.
"""

from __future__ import annotations

from receiver_helpers import post_proto
from ui_helpers import large_trace_requests, screenshot, sign_in, wait_rendered

SPANS = 10_000


def test_ten_thousand_span_trace_renders_and_scrolls(page, receiver, api_key, client) -> None:
    trace_id, requests = large_trace_requests(SPANS)
    for request in requests:
        assert post_proto(client, request, encoding="gzip").status_code == 200
    sign_in(page, receiver.url, api_key)
    page.goto(f"{receiver.url}/ui/#/trace/{trace_id}")
    page.reload()  # a fresh navigation, so the mark is relative to this page load
    wait_rendered(page, "trace", timeout=60_000)
    assert page.evaluate("performance.getEntriesByName('spanlink:trace-rendered').length") == 1
    assert page.text_content(".stat:nth-child(2) .stat-value") == "10,000"
    assert page.get_attribute(".wf-scroll", "aria-rowcount") == str(SPANS)
    in_dom = page.eval_on_selector_all(".wf-row", "rows => rows.length")
    assert 0 < in_dom < 120, f"{in_dom} rows in the DOM: the waterfall must be virtualised"

    # Jump to the end with the keyboard: the last span is shown, still few rows in the DOM.
    page.focus(".wf-scroll")
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('.wf-row.selected')")
    last = page.text_content(".wf-row.selected .span-name")
    assert last == f"call {SPANS - 1}"
    assert page.eval_on_selector_all(".wf-row", "rows => rows.length") < 120
    # Scroll to the middle: the rows there are the spans there, in order.
    page.eval_on_selector(".wf-scroll", "s => { s.scrollTop = 5000 * 26; }")
    page.wait_for_function(
        "() => document.querySelector('.wf-row[data-index=\"5000\"]') !== null", timeout=5_000
    )
    indexes = page.eval_on_selector_all(".wf-row", "rows => rows.map(r => +r.dataset.index)")
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    page.wait_for_selector(".panel:not([hidden])")
    assert page.text_content(".panel-title") == "large run"
    screenshot(page, "trace-10k")
    page.problems.assert_clean()
