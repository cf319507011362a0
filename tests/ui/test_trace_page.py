"""The trace page: waterfall in parent order, LLM span details, errors, keyboard, header."""

from __future__ import annotations

from typing import Any

from receiver_helpers import NOW, make_request, make_span, post_proto, span_id
from receiver_helpers import trace_id as new_trace_id
from ui_helpers import (
    AGENT_TREE,
    js_cost,
    screenshot,
    send_agent_trace,
    sign_in,
    wait_for_enrichment,
    wait_rendered,
)


def _open_trace(page: Any, receiver: Any, api_key: str, trace_id: str) -> None:
    sign_in(page, receiver.url, api_key, f"#/trace/{trace_id}")
    wait_rendered(page, "trace")


def _rows(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        ".wf-row",
        """rows => rows.map(r => ({
            id: r.dataset.spanId, depth: Number(r.dataset.depth),
            name: r.querySelector('.span-name').textContent,
            info: (r.querySelector('.llm-info') || {}).textContent || null,
            error: r.classList.contains('error'),
            icon: !!r.querySelector('.err-icon'),
        }))""",
    )


def test_waterfall_has_one_row_per_span_in_parent_order(page, receiver, api_key, client) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    trace = client.get(f"/api/v1/traces/{trace_id}").json()
    _open_trace(page, receiver, api_key, trace_id)
    rows = _rows(page)
    assert [(r["name"], r["depth"]) for r in rows] == AGENT_TREE
    assert [r["id"] for r in rows] == [s["span_id"] for s in trace["spans"]]
    parents = {s["span_id"]: s["parent_span_id"] for s in trace["spans"]}
    seen: set[str] = set()
    for row in rows:  # every parent comes before its children
        assert parents[row["id"]] is None or parents[row["id"]] in seen
        seen.add(row["id"])
    # Bars are placed by start and sized by duration on the trace's time axis.
    bars = page.eval_on_selector_all(
        ".wf-row .bar", "bars => bars.map(b => [b.style.left, b.style.width])"
    )
    assert bars[0][0] == "0%"
    lefts = [float(left.rstrip("%")) for left, _ in bars]
    assert lefts == sorted(lefts) and lefts[-1] > 0
    # Indentation follows depth.
    pads = page.eval_on_selector_all(
        ".wf-row .wf-name", "cells => cells.map(c => parseFloat(c.style.paddingLeft))"
    )
    assert pads[3] > pads[2] > pads[0]
    header = page.text_content(".trace-header")
    assert "invoke_agent planner" in header and trace_id in header
    assert "1,870 (1,500 in / 370 out)" in header  # tokens of both LLM calls
    assert page.title() == "invoke_agent planner · spanlink"
    screenshot(page, "trace")
    page.problems.assert_clean()


def test_llm_span_shows_model_tokens_and_cost(page, receiver, api_key, client) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    trace = wait_for_enrichment(client, trace_id)
    chat = next(s for s in trace["spans"] if s["name"] == "chat gpt-4o")
    cost = trace["enrichment"]["data"]["spans"][chat["span_id"]]["cost"]
    assert cost["status"] == "ok"
    _open_trace(page, receiver, api_key, trace_id)
    rows = {r["name"]: r for r in _rows(page)}
    assert rows["chat gpt-4o"]["info"] == "gpt-4o · 1,200→350 tok"
    assert rows["chat gpt-4o-mini"]["info"] == "gpt-4o-mini · 300→20 tok"
    page.click(f".wf-row[data-span-id='{chat['span_id']}']")
    panel = page.wait_for_selector(".panel:not([hidden])")
    model_call = page.text_content(".panel .model-call")
    assert "gpt-4o" in model_call and "openai" in model_call
    assert "1,200" in model_call and "350" in model_call
    assert js_cost(cost["total_cost"]) in model_call
    # Captured messages are pretty-printed as a folded JSON tree; attributes are grouped.
    assert "Lisbon?" in panel.text_content()
    titles = page.eval_on_selector_all(".panel h3", "hs => hs.map(h => h.textContent)")
    assert "GenAI attributes" in titles and "Input / output" in titles
    assert f"span={chat['span_id']}" in page.url  # the selection can be shared
    # The header shows the trace's cost by model.
    total = trace["enrichment"]["data"]["trace"]["cost"]["total_cost"]
    cost_box = page.text_content(".stat.cost")
    assert js_cost(total) in cost_box and "gpt-4o-mini" in cost_box
    screenshot(page, "trace-llm-panel")
    page.problems.assert_clean()


def test_error_span_is_marked_with_its_exception(page, receiver, api_key, client) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    _open_trace(page, receiver, api_key, trace_id)
    rows = {r["name"]: r for r in _rows(page)}
    assert rows["execute_tool book"]["error"] and rows["execute_tool book"]["icon"]
    assert not any(r["error"] for name, r in rows.items() if name != "execute_tool book")
    assert page.text_content(".stat.bad") == "Errors1"
    page.click(".wf-row.error")
    page.wait_for_selector(".panel:not([hidden])")
    assert page.text_content(".panel .badge.error") == "ERROR"
    assert page.text_content(".panel .status-message") == "no seats left"
    exception = page.text_content(".panel .event.exception")
    assert "RuntimeError" in exception and "no seats left on flight TP1234" in exception
    stack = page.text_content(".panel pre.stacktrace")
    assert "Traceback" in stack and "raise RuntimeError" in stack
    page.problems.assert_clean()


def test_keyboard_moves_through_spans_and_opens_the_panel(page, receiver, api_key) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    _open_trace(page, receiver, api_key, trace_id)
    page.focus(".wf-scroll")
    page.keyboard.press("ArrowDown")  # first span
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.text_content(".wf-row.selected .span-name") == AGENT_TREE[2][0]
    page.keyboard.press("ArrowUp")
    assert page.text_content(".wf-row.selected .span-name") == AGENT_TREE[1][0]
    page.keyboard.press("Enter")
    page.wait_for_selector(".panel:not([hidden])")
    assert page.text_content(".panel-title") == AGENT_TREE[1][0]
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    assert page.text_content(".panel-title") == AGENT_TREE[-1][0]
    page.keyboard.press("Escape")
    assert page.is_hidden(".panel")
    assert page.evaluate("document.activeElement.classList.contains('wf-scroll')")


def test_subtrees_fold_and_unfold(page, receiver, api_key) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    _open_trace(page, receiver, api_key, trace_id)
    page.focus(".wf-scroll")
    page.keyboard.press("ArrowDown")  # the root
    page.keyboard.press("ArrowLeft")  # fold it: only the root remains
    assert [r["name"] for r in _rows(page)] == [AGENT_TREE[0][0]]
    assert page.get_attribute(".wf-row", "aria-expanded") == "false"
    page.keyboard.press("ArrowRight")  # unfold
    assert [(r["name"], r["depth"]) for r in _rows(page)] == AGENT_TREE
    # Fold "execute_tool search" with the mouse: its child disappears, the rest stays.
    page.click(".wf-row:nth-child(3) .fold")
    assert [r["name"] for r in _rows(page)] == [n for n, _ in AGENT_TREE if n != "GET /search"]
    page.keyboard.press("ArrowDown")
    assert page.text_content(".wf-row.selected .span-name") == "execute_tool book"
    page.keyboard.press("ArrowLeft")  # a leaf: go to its parent
    assert page.text_content(".wf-row.selected .span-name") == AGENT_TREE[0][0]


def test_anomalies_link_to_their_span(page, receiver, api_key, client) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    trace = wait_for_enrichment(client, trace_id)
    findings = trace["enrichment"]["data"]["trace"]["anomaly"]["anomalies"]
    error_finding = next(a for a in findings if a["rule"] == "error_span")
    _open_trace(page, receiver, api_key, trace_id)
    assert page.text_content(".trace-anomalies h2") == f"Anomalies ({len(findings)})"
    page.click(".trace-anomalies a.anomaly-span")
    page.wait_for_selector(".panel:not([hidden])")
    assert page.text_content(".panel-title") == "execute_tool book"
    assert page.text_content(".wf-row.selected").startswith("!execute_tool book")
    assert f"span={error_finding['span_id']}" in page.url
    assert "error_span" in page.text_content(".panel")


def test_shared_link_opens_the_selected_span_and_narrow_window_is_usable(
    page, receiver, api_key, client
) -> None:
    trace_id = send_agent_trace(receiver.url, api_key)
    spans = client.get(f"/api/v1/traces/{trace_id}").json()["spans"]
    target = spans[3]
    page.set_viewport_size({"width": 420, "height": 800})
    _open_trace(page, receiver, api_key, f"{trace_id}?span={target['span_id']}")
    page.wait_for_selector(".panel:not([hidden])")
    assert page.text_content(".panel-title") == target["name"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, "the page must not scroll sideways on a narrow window"
    screenshot(page, "trace-narrow", full_page=True)


def test_unknown_trace_says_so(page, receiver, api_key) -> None:
    sign_in(page, receiver.url, api_key, "#/trace/" + "ab" * 16)
    assert "was not found in this project" in page.text_content("main [role=alert]")
    page.goto(f"{receiver.url}/ui/#/trace/not-a-trace-id")
    page.wait_for_selector("main [role=alert]:has-text('is not a trace id')")


def test_another_projects_trace_is_never_shown(page, receiver, api_key, database_url) -> None:
    from spanlink.receiver.storage import create_api_key

    other_key = create_api_key(database_url, "ui-other-project")
    theirs = send_agent_trace(receiver.url, other_key)
    sign_in(page, receiver.url, api_key, f"#/trace/{theirs}")
    assert "was not found in this project" in page.text_content("main [role=alert]")
    page.goto(f"{receiver.url}/ui/#/traces?q=planner")
    wait_rendered(page, "traces")
    assert page.query_selector(f"tr[data-trace-id='{theirs}']") is None


def _without_ns(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.endswith("_unix_nano")}


def _exact(trace: dict[str, Any]) -> dict[str, Any]:
    """The trace without its nanosecond times: above 2**53, a browser holds them to ~256 ns."""
    return {**_without_ns(trace), "spans": [_without_ns(span) for span in trace["spans"]]}


def test_the_viewer_orders_the_compact_answer_as_the_receiver_orders_spans(
    page, receiver, api_key, client
) -> None:
    # Orphans, a parent cycle, a self-parent and start-time ties: the tree order of the
    # page (from the compact rows) is the receiver's default answer, span for span.
    tid, root, a, b, me = new_trace_id(), span_id(), span_id(), span_id(), span_id()
    spans = [make_span(tid, root, name="root", start=NOW)]
    spans += [make_span(tid, span_id(), parent=root, start=NOW + 5) for _ in range(4)]
    spans += [
        make_span(tid, span_id(), parent=span_id(), name="orphan", start=NOW + 3),
        make_span(tid, a, parent=b, start=NOW + 7),
        make_span(tid, b, parent=a, start=NOW + 8),
        make_span(tid, me, parent=me, start=NOW + 9),
    ]
    assert post_proto(client, make_request(spans)).status_code == 200
    lean = wait_for_enrichment(client, tid.hex())  # so both answers have the same enrichment
    sign_in(page, receiver.url, api_key)
    decoded = page.evaluate(
        """async (id) => {
            const { getTrace } = await import('./js/spans.js');
            return await getTrace(id);
        }""",
        tid.hex(),
    )

    assert _exact(decoded) == _exact(lean)
    assert abs(decoded["start_time_unix_nano"] - lean["start_time_unix_nano"]) < 1_000
    page.problems.assert_clean()
