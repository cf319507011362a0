"""Scores in the viewer: a run's cases show inputs, output, expected and every score with
its explanation; the trace page shows the trace's scores and the span panel the scores
attached to the span. Untrusted text stays text."""

from __future__ import annotations

import uuid

from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import screenshot, sign_in, wait_rendered

EVENT = "gen_ai.evaluation.result"


def test_run_page_shows_case_details_and_scores(page, receiver, api_key, client) -> None:
    run_id, result_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id}).is_success
    result = {
        "id": result_id,
        "case_id": "tests/test_bot.py::test_refund",
        "status": "failed",
        "inputs": {"question": "How long does a refund take?"},
        "output": {"answer": "<img src=x onerror=alert(1)> five days"},
        "scores": [
            {"name": "contains", "value": 1.0, "passed": True, "explanation": "found 1 of 1"},
            {
                "name": "politeness",
                "value": 0.25,
                "passed": False,
                "explanation": "curt: <script>alert(1)</script>",
                "evaluator": "llm_judge",
            },
            {"name": "tool_called", "error": "no trace is linked to this result"},
        ],
    }
    posted = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [result]})
    assert posted.status_code == 200, posted.text
    sign_in(page, receiver.url, api_key, f"#/run/{run_id}")
    wait_rendered(page, "run")
    summary = page.text_content("tr[data-case-id] td.scores-summary")
    assert summary == "1/2 passed, 1 error"
    page.click(".case-detail summary")
    detail = page.text_content(".case-detail")
    assert "How long does a refund take?" in detail
    assert "<img src=x onerror=alert(1)> five days" in detail  # shown as text
    scores = page.eval_on_selector_all(
        "li.score", "items => items.map(i => [i.dataset.score, i.textContent])"
    )
    assert [name for name, _ in scores] == ["contains", "politeness", "tool_called"]
    texts = dict(scores)
    assert "pass" in texts["contains"] and "found 1 of 1" in texts["contains"]
    assert "fail" in texts["politeness"] and "(llm_judge)" in texts["politeness"]
    assert "curt: <script>alert(1)</script>" in texts["politeness"]
    assert "error" in texts["tool_called"] and "no trace is linked" in texts["tool_called"]
    assert page.query_selector(".case-detail img") is None
    screenshot(page, "run-scores")
    page.problems.assert_clean()


def test_span_panel_shows_the_spans_scores(page, receiver, api_key, client) -> None:
    tid, root, tool = trace_id(), span_id(), span_id()
    events = [
        (
            EVENT,
            NOW,
            {
                "gen_ai.evaluation.name": "relevance",
                "gen_ai.evaluation.score.value": 0.9,
                "gen_ai.evaluation.explanation": "on topic",
            },
        )
    ]
    request = make_request(
        [
            make_span(tid, root, name="agent", events=events),
            make_span(tid, tool, parent=root, name="lookup"),
        ]
    )
    assert post_proto(client, request).status_code == 200
    feedback = {"name": "thumbs", "value": 0, "passed": False, "explanation": "wrong order id"}
    answer = client.post(
        "/api/v1/scores", json={**feedback, "trace_id": tid.hex(), "span_id": tool.hex()}
    )
    assert answer.status_code == 201, answer.text
    whole = {"name": "resolved", "passed": True, "explanation": "the customer said thanks"}
    assert client.post("/api/v1/scores", json={**whole, "trace_id": tid.hex()}).status_code == 201
    sign_in(page, receiver.url, api_key, f"#/trace/{tid.hex()}?span={root.hex()}")
    wait_rendered(page, "trace")
    page.wait_for_selector(".panel li.score")
    panel = page.text_content(".panel")
    assert "Scores (1)" in panel and "relevance" in panel and "on topic" in panel
    assert "thumbs" not in panel and "resolved" not in panel  # another span's, the trace's
    header = page.text_content(".trace-scores")
    assert "Scores (1)" in header and "the customer said thanks" in header
    page.evaluate("route => { location.hash = route; }", f"#/trace/{tid.hex()}?span={tool.hex()}")
    page.wait_for_function(
        "() => (document.querySelector('.panel')?.textContent || '').includes('wrong order id')"
    )
    assert "relevance" not in page.text_content(".panel")
    page.problems.assert_clean()


def test_a_refresh_keeps_open_only_the_case_details_the_reader_opened(
    page, receiver, api_key, client
) -> None:
    run_id = uuid.uuid4().hex
    assert client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id}).is_success
    results = [
        {"id": uuid.uuid4().hex, "case_id": case, "status": "passed", "inputs": {"q": case}}
        for case in ("first", "second")
    ]
    posted = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": results})
    assert posted.status_code == 200, posted.text
    sign_in(page, receiver.url, api_key, f"#/run/{run_id}")
    wait_rendered(page, "run")
    assert page.get_attribute("main", "data-run-status") == "running"
    page.click("tr[data-detail-of=second] details.case-detail summary")

    def opened_after_a_refresh() -> list[str]:
        row = page.query_selector("tr[data-detail-of=first]")
        page.wait_for_function("row => !row.isConnected", arg=row, timeout=15_000)
        return page.eval_on_selector_all(
            "tr.case-detail-row", "rows => rows.filter(r => r.querySelector"
            "('details.case-detail').open).map(r => r.dataset.detailOf)",
        )  # fmt: skip

    # The inputs' JSON nodes inside a closed detail start open; that opens no detail.
    assert opened_after_a_refresh() == ["second"]
    assert opened_after_a_refresh() == ["second"]
    page.problems.assert_clean()
