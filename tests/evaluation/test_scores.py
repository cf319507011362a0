"""Scores: ``POST/GET /api/v1/scores``, span events at ingest, client-reported results'
scores, the trace list's score filter; bounded values, redaction, and no project crossing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from receiver_helpers import NOW, count_rows, make_request, make_span, post_proto, span_id, trace_id

EVENT = "gen_ai.evaluation.result"
NAME, VALUE = "gen_ai.evaluation.name", "gen_ai.evaluation.score.value"


def _trace(client: httpx.Client, events: list[tuple[str, int, dict[str, Any]]] | None = None):
    tid, root, child = trace_id(), span_id(), span_id()
    request = make_request(
        [
            make_span(tid, root, name="agent", events=events),
            make_span(tid, child, parent=root, name="tool"),
        ]
    )
    assert post_proto(client, request).status_code == 200
    return tid.hex(), root.hex(), child.hex()


def _reported_result(client: httpx.Client, **extra: Any) -> tuple[str, str]:
    run_id, result_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id}).is_success
    body = {"results": [{"id": result_id, "case_id": "t::a", "status": "passed", **extra}]}
    answer = client.post(f"/api/v1/test-runs/{run_id}/results", json=body)
    assert answer.status_code == 200, answer.text
    return run_id, result_id


def test_a_score_posted_for_a_span_reads_back_with_every_filter(client: httpx.Client) -> None:
    tid, root, child = _trace(client)
    answer = client.post(
        "/api/v1/scores",
        json={
            "name": "helpful",
            "value": 0.75,
            "label": "good",
            "passed": True,
            "explanation": "answered the question",
            "evaluator": "human",
            "trace_id": tid,
            "span_id": child,
            "metadata": {"reviewer": "ana"},
        },
    )
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert stored["source"] == "api" and stored["span_id"] == child and stored["value"] == 0.75
    for query in ({"trace_id": tid}, {"span_id": child}, {"name": "helpful"}):
        page = client.get("/api/v1/scores", params=query).json()
        assert [s["id"] for s in page["items"]] == [stored["id"]], query
        assert page["total"] == 1
    assert client.get("/api/v1/scores", params={"span_id": root}).json()["items"] == []


def test_a_score_posted_for_a_result_lands_in_its_runs_results(client: httpx.Client) -> None:
    run_id, result_id = _reported_result(client)
    answer = client.post(
        "/api/v1/scores",
        json={
            "name": "reviewed",
            "passed": False,
            "explanation": "wrong tone",
            "result_id": result_id,
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["run_id"] == run_id
    (result,) = client.get(f"/api/v1/test-runs/{run_id}").json()["results"]
    (score,) = result["scores"]
    assert score["name"] == "reviewed" and score["passed"] is False
    assert score["explanation"] == "wrong tone"
    documented = {"name", "value", "label", "passed", "explanation", "evaluator", "span_id"}
    assert documented | {"error"} <= set(score)
    by_run = client.get("/api/v1/scores", params={"run_id": run_id}).json()["items"]
    assert [s["result_id"] for s in by_run] == [result_id]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # A NaN or infinite literal anywhere in a body is refused before the model sees it.
        ({"name": "x", "value": float("nan")}, "NaN is not a JSON number"),
        ({"name": "x", "value": float("inf")}, "Infinity is not a JSON number"),
        ({"name": "x", "value": "-Infinity"}, "-Infinity is not a JSON number"),
        ({"name": "x", "explanation": "y" * 20_000}, "explanation"),
        ({"name": "x", "metadata": {"blob": "z" * 20_000}}, "metadata"),
        ({"name": ""}, "name"),
        ({"name": "x", "label": "bad\x00label"}, "NUL"),
        ({"name": "x", "span_id": "00f067aa0ba902b7"}, "trace_id"),
        ({"name": "x", "trace_id": None}, "trace_id"),
        ({"name": "x", "unknown": 1}, "unknown"),
    ],
)
def test_bad_scores_are_refused_and_nothing_is_stored(
    client: httpx.Client, database_url: str, project: Any, body: dict[str, Any], says: str
) -> None:
    tid, _, _ = _trace(client)
    target = {} if "span_id" in body or "trace_id" in body else {"trace_id": tid}
    # NaN and Infinity as JSON literals (what Python's json writes), "-Infinity" unquoted.
    content = json.dumps({**target, **body}).replace('"-Infinity"', "-Infinity")
    answer = client.post(
        "/api/v1/scores", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert says.lower() in answer.text.lower()
    assert count_rows(database_url, project.id, "scores") == 0


def test_another_projects_trace_or_result_is_not_found(
    client: httpx.Client, receiver: Any, database_url: str, project: Any
) -> None:
    from spanlink.receiver.storage import create_api_key, create_project

    other_name = f"other-{uuid.uuid4().hex[:8]}"
    other_key = create_api_key(database_url, other_name)
    other_id = create_project(database_url, other_name)
    with httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        tid, root, _ = _trace(other)
        _, result_id = _reported_result(other)
        other.post("/api/v1/scores", json={"name": "theirs", "value": 1, "trace_id": tid})
    for target in ({"trace_id": tid}, {"trace_id": tid, "span_id": root}, {"result_id": result_id}):
        answer = client.post("/api/v1/scores", json={"name": "mine", "value": 1.0, **target})
        assert answer.status_code == 404, (target, answer.text)
        assert "not found in this project" in answer.text
    assert client.get("/api/v1/scores", params={"trace_id": tid}).json()["items"] == []
    assert count_rows(database_url, project.id, "scores") == 0
    assert count_rows(database_url, other_id, "scores") == 1


def test_evaluation_events_become_scores_once_even_when_the_batch_is_resent(
    client: httpx.Client,
) -> None:
    events = [
        (
            EVENT,
            NOW,
            {
                "gen_ai.evaluation.name": "relevance",
                "gen_ai.evaluation.score.value": 0.9,
                "gen_ai.evaluation.score.label": "relevant",
                "gen_ai.evaluation.explanation": "on topic",
                "spanlink.evaluation.passed": True,
            },
        ),
        ("something else", NOW, {"gen_ai.evaluation.name": "ignored"}),
        (EVENT, NOW, {NAME: "toxicity", VALUE: "0.1"}),
        (EVENT, NOW, {NAME: "broken", VALUE: "nan"}),
    ]
    tid, root = trace_id(), span_id()
    request = make_request([make_span(tid, root, name="agent", events=events)])
    assert post_proto(client, request).status_code == 200
    assert post_proto(client, request).status_code == 200  # re-sent: nothing twice
    items = client.get("/api/v1/scores", params={"trace_id": tid.hex()}).json()["items"]
    by_name = {s["name"]: s for s in items}
    assert sorted(by_name) == ["broken", "relevance", "toxicity"] and len(items) == 3
    relevance = by_name["relevance"]
    assert relevance["span_id"] == root.hex() and relevance["source"] == "ingest"
    assert relevance["value"] == 0.9 and relevance["label"] == "relevant"
    assert relevance["explanation"] == "on topic" and relevance["passed"] is True
    assert by_name["toxicity"]["value"] == 0.1
    assert by_name["broken"]["value"] is None and "finite" in by_name["broken"]["error"]


def test_client_reported_scores_are_stored_in_the_scores_table_and_replaced(
    client: httpx.Client, database_url: str, project: Any
) -> None:
    score = {"name": "politeness", "value": 0.5, "passed": False, "explanation": "terse"}
    run_id, result_id = _reported_result(client, scores=[score])
    assert count_rows(database_url, project.id, "scores") == 1
    again = {"id": result_id, "case_id": "t::a", "status": "passed"}
    again["scores"] = [{**score, "value": 0.8}]
    client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [again]})
    (result,) = client.get(f"/api/v1/test-runs/{run_id}").json()["results"]
    assert [(s["name"], s["value"], s["source"]) for s in result["scores"]] == [
        ("politeness", 0.8, "client")
    ]
    assert count_rows(database_url, project.id, "scores") == 1


def test_redaction_applies_to_scores_before_storage(
    client: httpx.Client, database_url: str, project: Any
) -> None:
    rules = {"builtin": [], "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}]}
    assert client.put("/api/v1/redaction", json=rules).status_code == 200
    tid, _, _ = _trace(
        client,
        events=[(EVENT, NOW, {NAME: "e", "gen_ai.evaluation.explanation": "TKT-123456"})],
    )
    posted = client.post(
        "/api/v1/scores",
        json={
            "name": "n",
            "trace_id": tid,
            "label": "TKT-123456",
            "explanation": "see TKT-123456",
            "error": "TKT-123456",
            "metadata": {"note": "TKT-123456"},
        },
    )
    assert posted.status_code == 201, posted.text
    _reported_result(client, scores=[{"name": "c", "explanation": "TKT-654321 here"}])
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT label, explanation, error, metadata::text FROM scores WHERE project_id = %s",
            (project.id,),
        ).fetchall()
    assert len(rows) == 3
    stored = " ".join(str(value) for row in rows for value in row)
    assert "TKT-" not in stored.replace("[REDACTED:ticket]", "")
    assert "[REDACTED:ticket]" in stored


def test_the_trace_list_filters_by_score_name_and_value_range(client: httpx.Client) -> None:
    low, _, _ = _trace(client)
    high, _, _ = _trace(client)
    _trace(client)  # no score
    for tid, value in ((low, 0.2), (high, 0.9)):
        client.post("/api/v1/scores", json={"name": "quality", "value": value, "trace_id": tid})
    # A result's score finds the result's trace too.
    _, result_id = _reported_result(client, trace_id=low)
    client.post("/api/v1/scores", json={"name": "reviewed", "value": 1, "result_id": result_id})

    def ids(**params: Any) -> set[str]:
        answer = client.get("/api/v1/traces", params=params)
        assert answer.status_code == 200, answer.text
        return {t["trace_id"] for t in answer.json()["items"]}

    assert ids(score_name="quality") == {low, high}
    assert ids(score_name="quality", score_min=0.5) == {high}
    assert ids(score_name="quality", score_max=0.5) == {low}
    assert ids(score_name="quality", score_min=0.3, score_max=0.8) == set()
    assert ids(score_name="reviewed") == {low}
    assert client.get("/api/v1/traces", params={"score_min": 0.1}).status_code == 422
