"""A whole run against a real endpoint app: results stored, every span linked."""

from __future__ import annotations

from typing import Any

import psycopg


def _linked_counts(database_url: str, project_id: int, run_id: str) -> dict[str | None, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT test_result_id, count(*) FROM spans WHERE project_id = %s "
            "AND (test_run_id = %s OR trace_id IN (SELECT trace_id FROM test_results "
            "WHERE run_id = %s)) GROUP BY 1",
            (project_id, run_id, run_id),
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def test_full_run_links_every_span_of_every_case(
    shared: Any,
    run_waiter: Any,
    database_url: str,
) -> None:
    client, project = shared.client, shared.project
    cases = [
        {
            "id": f"q{n}",
            "inputs": {"question": f"q{n}", "spans": 20},
            "expected_output": f"answer to q{n}" if n != 3 else "something else",
        }
        for n in range(6)
    ]
    response = client.post(
        "/api/v1/test-runs",
        json={"function": "answer", "cases": cases, "concurrency": 3, "configuration_id": "cfg-1"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created["results"]) == 6
    run = run_waiter(client, created["id"])
    assert run["status"] == "completed"
    assert run["progress"]["done"] == 6
    by_case = {r["case_id"]: r for r in run["results"]}
    assert by_case["q3"]["status"] == "failed"  # output differs from the expected one
    for case_id, result in by_case.items():
        if case_id != "q3":
            assert result["status"] == "passed", result
        assert result["trace_ids"] == [result["trace_id"]]
        assert result["span_count"] == 20
        assert result["input_tokens"] == 19 * 100
        assert result["output_tokens"] == 19 * 20
        assert result["duration_ms"] is not None
    # The client flushes an invocation's spans before it reports the result: every span
    # was stored (and linked at ingest) before its result row was written.
    with psycopg.connect(database_url) as connection:
        late = connection.execute(
            "SELECT count(*) FROM spans s JOIN test_results r ON r.id = s.test_result_id "
            "WHERE r.run_id = %s AND s.received_at > r.finished_at",
            (created["id"],),
        ).fetchone()
    assert late == (0,)
    counts = _linked_counts(database_url, project.id, created["id"])
    assert None not in counts, counts  # no span of the run is left unlinked
    assert counts == {r["id"]: 20 for r in run["results"]}
    listed = {item["id"]: item for item in client.get("/api/v1/test-runs").json()["items"]}
    assert listed[created["id"]]["progress"]["counts"]["passed"] == 5
    assert listed[created["id"]]["configuration_id"] == "cfg-1"
