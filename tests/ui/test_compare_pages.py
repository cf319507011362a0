"""The run page's case details and "compare with", the comparison page and the trace diff
page, in headless Chromium against a live receiver (two runs seeded, their traces ingested
over OTLP and linked to the results by their test context)."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import httpx
import pytest
from compare_helpers import insert_run, score
from receiver_helpers import NOW, make_request, make_span, post_proto
from ui_helpers import screenshot, sign_in, wait_rendered

from spanlink.tracer.semconv import attributes as a

MS = 1_000_000


def _chat(model: str) -> dict[str, Any]:
    return {
        a.GEN_AI_OPERATION_NAME: a.OP_CHAT,
        a.GEN_AI_REQUEST_MODEL: model,
        a.GEN_AI_USAGE_INPUT_TOKENS: 100,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
    }


def _tool(name: str) -> dict[str, Any]:
    return {a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: name}


def _send(
    client: httpx.Client, steps: list[tuple[str, dict[str, Any]]], link: dict[str, str]
) -> str:
    """An agent trace with ``steps`` under its root, linked to a run's result; its id."""
    tid, root = os.urandom(16), os.urandom(8)
    context = {
        a.SPANLINK_TEST_RUN_ID: link["run"],
        a.SPANLINK_TEST_RESULT_ID: link["result"],
        a.SPANLINK_TEST_CASE_ID: link["case"],
    }
    spans = [make_span(tid, root, name="invoke_agent bot", duration_ns=60 * MS, attributes=context)]
    for index, (name, attrs) in enumerate(steps):
        start = NOW + (index + 1) * 10 * MS
        spans.append(make_span(tid, os.urandom(8), root, name, start, 8 * MS, {**attrs, **context}))
    assert post_proto(client, make_request(spans)).status_code == 200
    return tid.hex()


def _seed(database_url: str, project_id: int, client: httpx.Client) -> dict[str, str]:
    """A baseline and a run of one suite: refund regresses (status, score, an inserted tool
    call, a changed model), escalate is fixed, greeting still fails, old is removed, fresh
    is new, warranty is unchanged."""
    ids = {name: str(uuid.uuid4()) for name in ("b_refund", "r_refund")}
    question = {"question": "How do refunds work?"}
    baseline = insert_run(
        database_url,
        project_id,
        {
            "refund": {
                "id": ids["b_refund"],
                "scores": [score("contains", 1.0, True)],
                "input": question,
                "output": "Refunds take 5 business days.",
                "expected": "5 business days",
            },
            "warranty": {"scores": [score("contains", 1.0, True)]},
            "greeting": {"status": "failed"},
            "escalate": {"status": "failed"},
            "old": {},
        },
        minutes=0,
    )
    run = insert_run(
        database_url,
        project_id,
        {
            "refund": {
                "id": ids["r_refund"],
                "status": "failed",
                "scores": [
                    {**score("contains", 0.0, False), "explanation": "'5 business days' missing"}
                ],
                "input": question,
                "output": "Refunds are <b>not</b> possible.",
                "expected": "5 business days",
            },
            "warranty": {"scores": [score("contains", 1.0, True)]},
            "greeting": {"status": "failed"},
            "escalate": {},
            "fresh": {},
        },
        minutes=1,
    )
    before = [
        ("chat gpt-4o", _chat("gpt-4o")),
        ("execute_tool lookup_order", _tool("lookup_order")),
        ("chat gpt-4o", _chat("gpt-4o")),
    ]
    after = [
        ("chat gpt-4o", _chat("gpt-4o")),
        ("execute_tool search_kb", _tool("search_kb")),
        ("execute_tool lookup_order", _tool("lookup_order")),
        ("chat gpt-4o", _chat("gpt-4o-mini")),
    ]
    trace_a = _send(client, before, {"run": baseline, "result": ids["b_refund"], "case": "refund"})
    trace_b = _send(client, after, {"run": run, "result": ids["r_refund"], "case": "refund"})
    return {"baseline": baseline, "run": run, "a": trace_a, "b": trace_b}


@pytest.fixture
def seeded(client: httpx.Client, database_url: str, project: Any) -> dict[str, str]:
    return _seed(database_url, project.id, client)


def _rows(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "rows => rows.map(r => r.dataset.caseId)")


def test_run_page_shows_case_io_scores_and_compare_with(page, receiver, api_key, seeded) -> None:
    sign_in(page, receiver.url, api_key, f"#/run/{seeded['run']}")
    wait_rendered(page, "run")
    refund = "tr[data-case-id=refund]"
    assert page.text_content(f"{refund} td.scores-summary") == "0/1 passed"
    detail = "tr[data-detail-of=refund] details.case-detail"
    page.click(f"{detail} summary")
    assert "How do refunds work?" in page.text_content(f"{detail} .io-inputs")
    # Untrusted output stays text.
    assert page.text_content(f"{detail} .io-output") == "outputRefunds are <b>not</b> possible."
    assert page.query_selector(f"{detail} .io-output b") is None
    assert page.text_content(f"{detail} .io-expected") == "expected5 business days"
    contains = f"{detail} li.score[data-score=contains]"
    assert page.text_content(f"{contains} .badge") == "fail"
    assert page.text_content(f"{contains} .score-explanation") == "'5 business days' missing"
    screenshot(page, "run-case-details")

    page.wait_for_selector("form.compare-with[data-loaded=true]")
    options = page.eval_on_selector_all("#compare-baseline option", "os => os.map(o => o.value)")
    assert options[0] == "auto" and seeded["baseline"] in options and seeded["run"] not in options
    page.select_option("#compare-baseline", seeded["baseline"])
    page.click("form.compare-with button[type=submit]")
    wait_rendered(page, "compare")
    assert f"#/compare/{seeded['run']}?baseline={seeded['baseline']}" in page.url
    page.problems.assert_clean()


def test_comparison_regressions_first_filtered_by_change(page, receiver, api_key, seeded) -> None:
    sign_in(page, receiver.url, api_key, f"#/compare/{seeded['run']}?baseline=auto")
    wait_rendered(page, "compare")
    assert "Baseline (auto)" in page.text_content(".compare-runs")
    assert _rows(page, "table.regressions tr[data-case-id]") == ["refund"]
    reasons = page.eval_on_selector_all(
        "table.regressions .reasons li", "items => items.map(i => i.textContent)"
    )
    assert reasons == ["status passed -> failed", "score contains: passed -> failed"]
    score_delta = page.text_content("table.regressions [data-metric='score:contains']")
    assert score_delta == "contains 1 → 0 \u22121"  # a minus sign
    others = _rows(page, "table.others tr[data-case-id]")
    assert others == ["escalate", "greeting", "fresh", "old", "warranty"]
    changes = page.eval_on_selector_all(
        "table.others tr[data-case-id]", "rows => rows.map(r => r.dataset.change)"
    )
    assert changes == ["fixed", "still_failing", "new", "removed", "unchanged"]
    # The regressions table comes before everything else on the page.
    order = page.eval_on_selector_all("table.compare", "ts => ts.map(t => t.classList[2])")
    assert order == ["regressions", "others"]
    assert page.text_content("[data-filter=all]") == "all 6"
    screenshot(page, "comparison", full_page=True)

    page.click("[data-filter=fixed]")
    assert _rows(page, "tr[data-case-id]") == ["escalate"]
    assert "change=fixed" in page.url
    page.reload()
    wait_rendered(page, "compare")
    assert _rows(page, "tr[data-case-id]") == ["escalate"]
    assert page.get_attribute("[data-filter=fixed]", "aria-pressed") == "true"
    page.click("[data-filter=regressed]")
    assert _rows(page, "tr[data-case-id]") == ["refund"]
    page.click("[data-filter=all]")
    assert len(_rows(page, "tr[data-case-id]")) == 6

    page.click("table.regressions a.diff-link")
    wait_rendered(page, "diff")
    assert f"#/diff/{seeded['a']}/{seeded['b']}" in page.url
    page.problems.assert_clean()


def test_diff_page_aligns_marks_and_compares_spans(page, receiver, api_key, seeded) -> None:
    sign_in(page, receiver.url, api_key, f"#/diff/{seeded['a']}/{seeded['b']}")
    wait_rendered(page, "diff")
    rows = page.eval_on_selector_all(
        ".diff-row",
        "rows => rows.map(r => [r.querySelector('.span-name').textContent, r.dataset.status,"
        " r.querySelectorAll('.lane-a .bar').length, r.querySelectorAll('.lane-b .bar').length])",
    )
    assert rows == [
        ["invoke_agent bot", "same", 1, 1],
        ["chat gpt-4o", "same", 1, 1],
        ["execute_tool search_kb", "added", 0, 1],
        ["execute_tool lookup_order", "same", 1, 1],
        ["chat gpt-4o", "changed", 1, 1],
    ]
    # The first divergence: the inserted tool call, highlighted, selected, in view.
    first = page.query_selector(".diff-row.first-divergence")
    assert first is not None and first.get_attribute("data-status") == "added"
    assert "execute_tool search_kb" in page.text_content(".first-divergence-note")
    assert page.text_content(".diff-counts") == "3 same1 changed1 added0 removed"
    assert page.text_content(".tool-sequence .tools-b") == "b: search_kb → lookup_order"
    # One time axis: both lanes share the scale, so the same offset lands at the same place.
    lanes = page.eval_on_selector_all(
        ".diff-row[data-index='3'] .bar", "bars => bars.map(b => b.style.left)"
    )
    assert lanes[0] != lanes[1]  # lookup_order starts 10 ms later in b
    assert page.eval_on_selector(".diff-row[data-index='0'] .lane-a .bar", "b => b.style.left") == (
        "0%"
    )

    page.click(".diff-row[data-index='4']")
    # Both spans' attributes are fetched when the row opens.
    page.wait_for_selector(".diff-panel[data-loaded='4']:not([hidden])")
    differing = page.eval_on_selector_all(
        ".attr-diff tr.differs", "rows => rows.map(r => r.dataset.key)"
    )
    # The model, and the test context (each trace is linked to its own run's result).
    assert differing == [
        "gen_ai.request.model",
        "spanlink.test.result_id",
        "spanlink.test.run_id",
    ]
    model = page.eval_on_selector(
        ".attr-diff tr[data-key='gen_ai.request.model']",
        "r => [...r.cells].map(c => c.textContent)",
    )
    assert model == ["gen_ai.request.model", "gpt-4o", "gpt-4o-mini", "≠"]
    assert "model gpt-4o → gpt-4o-mini" in page.text_content(".change-lines")
    screenshot(page, "trace-diff")
    page.problems.assert_clean()


def _large_trace(client: httpx.Client, insert_at: int | None) -> str:
    """1,000 spans: a root, 9 steps of 110 calls (chat and tool calls in turn); with
    ``insert_at``, one more tool call in step 6 and the last call of step 8 removed."""
    tid, root = os.urandom(16), os.urandom(8)
    spans = [make_span(tid, root, name="agent", duration_ns=2_000 * MS)]
    clock = 0
    for step in range(9):
        step_id = os.urandom(8)
        spans.append(make_span(tid, step_id, root, f"step {step}", NOW + clock * MS, 200 * MS))
        calls = 110
        if insert_at is not None and step == 8:
            calls -= 1
        for call in range(calls):
            clock += 1
            if insert_at is not None and step == 6 and call == insert_at:
                spans.append(
                    make_span(tid, os.urandom(8), step_id, "execute_tool retry",
                              NOW + clock * MS, MS // 2, _tool("retry"))
                )  # fmt: skip
            attrs = _chat("gpt-4o") if call % 2 else _tool(f"tool{call % 7}")
            name = "chat gpt-4o" if call % 2 else f"execute_tool tool{call % 7}"
            spans.append(make_span(tid, os.urandom(8), step_id, name, NOW + clock * MS, MS, attrs))
    assert len(spans) == 1000
    assert post_proto(client, make_request(spans)).status_code == 200
    return tid.hex()


def test_a_thousand_span_pair(page, receiver, api_key, client) -> None:
    a_id = _large_trace(client, None)
    b_id = _large_trace(client, 40)
    expected = client.get(f"/api/v1/traces/{a_id}/diff/{b_id}").json()
    assert expected["first_divergence"]["name"] == "execute_tool retry"
    sign_in(page, receiver.url, api_key, f"#/diff/{a_id}/{b_id}")
    wait_rendered(page, "diff", timeout=60_000)
    assert page.eval_on_selector_all(".diff-row", "rows => rows.length") == len(expected["spans"])
    statuses = page.eval_on_selector_all(".diff-row", "rows => rows.map(r => r.dataset.status)")
    assert statuses == [entry["status"] for entry in expected["spans"]]
    assert statuses.count("added") == 1 and statuses.count("removed") == 1
    # Scrolled to the first divergence: its row is inside the scroller's visible part.
    inside = page.eval_on_selector(
        ".diff-row.first-divergence",
        "row => { const box = row.closest('.diff-scroll'); const s = box.getBoundingClientRect();"
        " const r = row.getBoundingClientRect();"
        " return [box.scrollTop > 0, r.top >= s.top && r.bottom <= s.bottom]; }",
    )
    assert inside == [True, True]
    assert re.search(r"execute_tool retry", page.text_content(".first-divergence-note"))
    assert page.get_attribute(".diff-row.first-divergence", "class").count("selected") == 1
    assert page.text_content(".diff-panel .panel-title") == "execute_tool retry"
    screenshot(page, "trace-diff-1000")
    page.check("#diff-only-changes")
    shown = page.eval_on_selector_all(
        ".diff-row", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.dataset.status)"
    )
    assert sorted(shown) == sorted(s for s in statuses if s != "same")
    page.problems.assert_clean()


def test_what_cannot_be_compared_says_why(page, receiver, api_key, database_url, project) -> None:
    lonely = insert_run(database_url, project.id, {"q": {}}, dataset="alone", minutes=5)
    sign_in(page, receiver.url, api_key, f"#/compare/{lonely}?baseline=auto")
    page.wait_for_selector("#view [role=alert]")
    assert "no baseline for run" in page.text_content("#view [role=alert]")
    page.goto(f"{receiver.url}/ui/#/diff/{'0' * 32}/{'1' * 32}")
    page.wait_for_selector("main[data-rendered=diff] [role=alert]")
    # Whichever of the three requests answers first says so.
    assert re.search(r"trace (0{32}|1{32}) not found", page.text_content("#view [role=alert]"))
    page.problems.assert_clean()


def test_ids_that_are_no_path_segment_are_refused(page, receiver, api_key) -> None:
    # ".." would address another resource (/api/v1/test-runs/../compare is /api/v1/compare).
    sign_in(page, receiver.url, api_key, "#/compare/..?baseline=auto")
    page.wait_for_selector("main[data-rendered=compare] [role=alert]")
    assert page.text_content("#view [role=alert]") == "“..” is not a run id."
    page.goto(f"{receiver.url}/ui/#/diff/..%2Fx/{'1' * 32}")
    page.wait_for_selector("main[data-rendered=diff] [role=alert]")
    assert page.text_content("#view [role=alert]") == "“../x” is not a trace id."
    page.problems.assert_clean()
