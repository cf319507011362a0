"""The traces list: ingested traces, filters kept in the URL, pagination."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import screenshot, sign_in, wait_rendered


def _ingest(client) -> dict[str, str]:
    """53 traces in "dev" (one second apart) and 2 in "prod" (one failing, one linked to a
    test run); returns the ids of the special ones."""
    spans = []
    for i in range(53):
        spans.append(make_span(trace_id(), span_id(), name=f"job {i}", start=NOW - i * 10**9))
    ids = {}
    failing, linked = trace_id(), trace_id()
    spans_prod = [
        make_span(failing, span_id(), name="checkout basket", start=NOW + 10**9, error="boom"),
        make_span(
            linked,
            span_id(),
            name="answer question",
            start=NOW + 2 * 10**9,
            attributes={
                "spanlink.test.run_id": "run-ui-1",
                "spanlink.test.case_id": "case-7",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 40,
                "gen_ai.usage.output_tokens": 2,
            },
        ),
    ]
    ids["failing"], ids["linked"] = failing.hex(), linked.hex()
    dev = make_request(
        spans, resource={"service.name": "batch", "deployment.environment.name": "dev"}
    )
    prod = make_request(
        spans_prod, resource={"service.name": "shop", "deployment.environment.name": "prod"}
    )
    for request in (dev, prod):
        assert post_proto(client, request).status_code == 200
    return ids


def _row_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "tr[data-trace-id]", "rows => rows.map(r => r.dataset.traceId)"
    )


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(urlsplit(page.url).fragment).query)


def test_list_shows_traces_and_pages(page, receiver, api_key, client) -> None:
    ids = _ingest(client)
    sign_in(page, receiver.url, api_key)
    rows = _row_ids(page)
    assert len(rows) == 50
    assert rows[:2] == [ids["linked"], ids["failing"]]  # newest first
    first = page.text_content(f"tr[data-trace-id='{ids['linked']}']")
    for expected in ("answer question", "shop", "prod", "42", "run-ui-1", "case-7"):
        assert expected in first
    assert page.text_content(f"tr[data-trace-id='{ids['failing']}'] .badge.error") == "1"
    assert "1\u201350 of 55" in page.text_content(".pager")
    screenshot(page, "traces")
    # The view already says "traces" before a page change is drawn: wait for the rows.
    page.click(".pager a[rel=next]")
    wait_rendered(page, "traces")
    page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 5")
    assert len(_row_ids(page)) == 5
    assert _query(page)["offset"] == ["50"]
    assert "51\u201355 of 55" in page.text_content(".pager")
    page.click(".pager a[rel=prev]")
    wait_rendered(page, "traces")
    page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 50")
    assert len(_row_ids(page)) == 50
    page.problems.assert_clean()


def test_filters_live_in_the_url(page, receiver, api_key, client) -> None:
    ids = _ingest(client)
    sign_in(page, receiver.url, api_key)
    page.fill("#f-environment", "prod")
    page.select_option("#f-status", "error")
    page.click("form.filters button[type=submit]")
    wait_rendered(page, "traces")
    page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 1")
    assert _row_ids(page) == [ids["failing"]]
    assert _query(page) == {"environment": ["prod"], "status": ["error"]}
    # A shared link opens the same view in a new tab (after signing in there).
    shared = page.url
    other = page.context.browser.new_context()
    try:
        tab = other.new_page()
        sign_in(tab, receiver.url, api_key, "#" + urlsplit(shared).fragment)
        assert _row_ids(tab) == [ids["failing"]]
        assert tab.input_value("#f-environment") == "prod"
        assert tab.input_value("#f-status") == "error"
    finally:
        other.close()
    # Full-text search and the test run filter.
    page.goto(f"{receiver.url}/ui/#/traces?q=question")
    wait_rendered(page, "traces")
    assert _row_ids(page) == [ids["linked"]]
    assert page.get_attribute("tr[data-trace-id] a.mono", "href") == "#/run/run-ui-1"
    page.goto(f"{receiver.url}/ui/#/traces?test_run_id=run-ui-1")
    wait_rendered(page, "traces")
    assert _row_ids(page) == [ids["linked"]]
    page.goto(f"{receiver.url}/ui/#/traces?environment=nowhere")
    wait_rendered(page, "traces")
    assert "No trace matches these filters." in page.text_content("#view")


def test_time_range_filter(page, receiver, api_key, client) -> None:
    hour = 3600 * 10**9
    old = [
        make_span(trace_id(), span_id(), name=f"old {i}", start=NOW - 2 * hour - i)
        for i in range(3)
    ]
    new = [make_span(trace_id(), span_id(), name=f"new {i}", start=NOW - i) for i in range(2)]
    assert post_proto(client, make_request(old + new)).status_code == 200
    sign_in(page, receiver.url, api_key)
    assert len(_row_ids(page)) == 5
    # A local datetime input becomes a UTC instant in the URL and in the API call.
    local = page.evaluate(
        "ms => { const d = new Date(ms); const p = n => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}`"
        " + `T${p(d.getHours())}:${p(d.getMinutes())}`; }",
        (NOW - hour) // 10**6,
    )
    page.fill("#f-start_time", local)
    page.click("form.filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 2")
    names = page.eval_on_selector_all(
        "tr[data-trace-id] .trace-link", "a => a.map(x => x.textContent)"
    )
    assert names == ["new 0", "new 1"]
    assert "start_time" in _query(page)
    # Until a time before the new ones: only the old traces.
    page.goto(f"{receiver.url}/ui/#/traces?end_time={_query(page)['start_time'][0]}")
    page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 3")
