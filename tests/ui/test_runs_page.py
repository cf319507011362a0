"""Test runs: the list and a run page with its cases; a running run refreshes itself."""

from __future__ import annotations

import uuid

import psycopg
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import screenshot, sign_in, wait_rendered


def _seed_run(database_url: str, project_id: int, client) -> dict[str, str]:
    """A running run with three cases; the first case's trace is linked by its spans."""
    run_id = str(uuid.uuid4())
    results = {name: str(uuid.uuid4()) for name in ("greet", "refund", "escalate")}
    tid = trace_id()
    request = make_request(
        [
            make_span(
                tid,
                span_id(),
                name="answer greet",
                attributes={
                    "spanlink.test.run_id": run_id,
                    "spanlink.test.case_id": "greet",
                    "spanlink.test.result_id": results["greet"],
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 90,
                    "gen_ai.usage.output_tokens": 10,
                },
            )
        ]
    )
    assert post_proto(client, request).status_code == 200
    with psycopg.connect(database_url) as db:
        db.execute(
            "INSERT INTO test_runs (project_id, id, name, status, started_at)"
            " VALUES (%s, %s, 'nightly <b>eval</b>', 'running', now())",
            (project_id, run_id),
        )
        rows = [
            ("greet", "passed", None, tid.hex(), 120.5),
            ("refund", "failed", "expected 'refunded', got <script>x</script>", None, 80.0),
            ("escalate", "running", None, None, None),
        ]
        for case, status, error, trace, duration in rows:
            db.execute(
                "INSERT INTO test_results (project_id, id, run_id, case_id, status, error,"
                " trace_id, duration_ms, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " now() + %s * interval '1 ms')",
                (
                    project_id,
                    results[case],
                    run_id,
                    case,
                    status,
                    error,
                    trace,
                    duration,
                    len(case),
                ),
            )
    return {"run": run_id, "trace": tid.hex(), **results}


def _finish(database_url: str, run_id: str, result_id: str) -> None:
    with psycopg.connect(database_url) as db:
        db.execute(
            "UPDATE test_results SET status = 'passed', duration_ms = 42 WHERE id = %s",
            (result_id,),
        )
        db.execute(
            "UPDATE test_runs SET status = 'completed', finished_at = now() WHERE id = %s",
            (run_id,),
        )


def test_runs_list_and_run_page(page, receiver, api_key, client, database_url, project) -> None:
    ids = _seed_run(database_url, project.id, client)
    assert NOW  # spans were stamped now: the run's trace shows in the list too
    sign_in(page, receiver.url, api_key, "#/runs")
    wait_rendered(page, "runs")
    row = page.text_content(f"tr[data-run-id='{ids['run']}']")
    assert "nightly <b>eval</b>" in row and "running" in row
    screenshot(page, "test-runs")

    page.click(f"tr[data-run-id='{ids['run']}'] a")
    wait_rendered(page, "run")
    cases = page.eval_on_selector_all(
        "tr[data-case-id]",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))",
    )
    by_case = {cells[0]: cells for cells in cases}
    assert set(by_case) == {"greet", "refund", "escalate"}
    assert by_case["greet"][1:4] == ["passed", "121 ms", "100"]
    assert by_case["greet"][6] == "—"  # no scores
    assert by_case["greet"][7] == "trace"
    assert by_case["refund"][1] == "failed"
    assert by_case["refund"][8] == "expected 'refunded', got <script>x</script>"
    assert "refreshing" in page.text_content(".live")
    screenshot(page, "test-run")

    # The run finishes: the page picks it up by itself and stops refreshing.
    _finish(database_url, ids["run"], ids["escalate"])
    page.wait_for_selector("main[data-run-status=completed]", timeout=10_000)
    assert page.text_content("tr[data-case-id=escalate] td:nth-child(2)") == "passed"
    assert page.text_content(".live") == ""

    page.click("tr[data-case-id=greet] a.trace-link")
    wait_rendered(page, "trace")
    assert page.text_content(".trace-tests").count(ids["run"]) == 1
    page.wait_for_selector(".trace-tests .badge.status-passed")
    page.problems.assert_clean()


def test_unknown_run_says_so(page, receiver, api_key) -> None:
    run_id = str(uuid.uuid4())
    sign_in(page, receiver.url, api_key, f"#/run/{run_id}")
    wait_rendered(page, "run")
    assert f"no record of test run {run_id}" in page.text_content("#view [role=status]")
    assert "No trace carries it" in page.text_content("#view [role=status]")
