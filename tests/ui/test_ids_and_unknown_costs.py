"""The viewer with run ids the receiver did not create, and costs it does not know.

A span may carry any ``spanlink.test.run_id`` (``run-42`` in the README): the run link of
the trace list opens a run page listing the traces tagged with it, whatever the id holds.
An unknown cost reads "unknown", never "$0".
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import sign_in, wait_for_enrichment, wait_rendered

RUN_IDS = [
    "run-42",
    "gh/123",
    "..",
    ".",
    "a?b#c&d=e",
    "100%",
    "ünï cödé",
    '<img src=x onerror="alert(1)">',
    "compare",
    "x" * 300,
]


def _tagged_trace(client, run_id: str, **attributes) -> str:
    tid = trace_id()
    attrs = {"spanlink.test.run_id": run_id, "spanlink.test.case_id": "case-1", **attributes}
    request = make_request([make_span(tid, span_id(), name="tagged", attributes=attrs)])
    assert post_proto(client, request).status_code == 200
    return tid.hex()


@pytest.mark.parametrize("run_id", RUN_IDS, ids=range(len(RUN_IDS)))
def test_run_link_works_for_any_run_id(page, receiver, api_key, client, run_id: str) -> None:
    tid = _tagged_trace(client, run_id)
    sign_in(page, receiver.url, api_key, f"#/traces?test_run_id={quote(run_id, safe='')}")
    assert page.eval_on_selector_all("tr[data-trace-id]", "rows => rows.length") == 1
    page.click(f"tr[data-trace-id='{tid}'] td a.mono")
    wait_rendered(page, "run")
    view = page.text_content("#view")
    assert run_id in view
    assert "no record of test run" in view
    assert page.eval_on_selector_all("table.tagged-traces tr[data-trace-id]", "r => r.length") == 1
    page.click(f"table.tagged-traces tr[data-trace-id='{tid}'] a.trace-link")
    wait_rendered(page, "trace")
    assert "tagged" in page.text_content("#view")
    page.problems.assert_clean()


def test_the_url_the_receiver_hands_out_opens_the_run(page, receiver, api_key, client) -> None:
    run_id = uuid.uuid4().hex
    created = client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id, "name": "n"})
    url = created.json()["url"]
    assert url.endswith(f"/ui/#/runs/{run_id}")
    sign_in(page, receiver.url, api_key, url.split("/ui/", 1)[1])
    wait_rendered(page, "run")
    assert page.get_attribute("#view", "data-run-status") == "running"
    assert run_id in page.text_content("h1")
    page.problems.assert_clean()


def test_trace_page_for_ids_no_url_can_carry(page, receiver, api_key) -> None:
    sign_in(page, receiver.url, api_key)
    for bad in ("..", "abc/diff/def", "not-hex"):
        page.goto(f"{receiver.url}/ui/#/trace/{quote(bad, safe='')}")
        page.wait_for_function(
            "text => document.getElementById('view').textContent.includes(text)",
            arg=f"\u201c{bad}\u201d is not a trace id",
        )
    page.problems.assert_clean()


def test_unknown_costs_read_unknown(page, receiver, api_key, client) -> None:
    unknown_model = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "acme-llm-9000",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
    }
    priced = dict(unknown_model, **{"gen_ai.request.model": "gpt-4o"})
    ids = {}
    for name, attributes in {"unknown": unknown_model, "none": {}, "priced": priced}.items():
        tid = trace_id()
        span = make_span(tid, span_id(), name=name, start=NOW, attributes=attributes)
        assert post_proto(client, make_request([span])).status_code == 200
        ids[name] = wait_for_enrichment(client, tid.hex())["trace_id"]
    sign_in(page, receiver.url, api_key)

    def cost_cell(tid: str) -> str:
        return page.text_content(f"tr[data-trace-id='{tid}'] td:nth-child(9)").strip()

    assert cost_cell(ids["unknown"]) == "unknown"
    assert cost_cell(ids["none"]) == "unknown"
    assert cost_cell(ids["priced"]).startswith("$") and cost_cell(ids["priced"]) != "$0"
    page.click(f"tr[data-trace-id='{ids['unknown']}'] a.trace-link")
    wait_rendered(page, "trace")
    header = page.text_content(".stat.cost")
    assert "unknown" in header and "no price for acme-llm-9000" in header and "$0" not in header
    page.click("#nav a[data-section=metrics]")
    wait_rendered(page, "metrics")
    costs = [s for s in page.query_selector_all(".stat") if "Cost" in s.text_content()]
    assert costs and costs[0].text_content().endswith("unknown")
    page.problems.assert_clean()
