"""Run control with a real endpoint app: failures, timeouts, cancel, bad requests, tenancy."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from receiver_fixtures import new_project, project_client


def _post(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/api/v1/test-runs", json=body)


def test_function_errors_and_wrong_arguments_are_failed_results(
    shared: Any, run_waiter: Any
) -> None:
    client = shared.client
    created = _post(client, function="boom", cases=[{"id": "b", "inputs": {"question": "q"}}])
    wrong = _post(client, function="answer", cases=[{"id": "w", "inputs": {"nope": 1}}])
    run = run_waiter(client, created.json()["id"])
    [result] = run["results"]
    assert result["status"] == "error"
    assert result["error"] == "ValueError: cannot answer 'q'"
    assert result["trace_id"] in result["trace_ids"]  # the failing call's spans are linked
    run = run_waiter(client, wrong.json()["id"])
    [result] = run["results"]
    assert result["status"] == "error"
    assert "question" in result["error"] and "nope" in result["error"]


def test_endpoint_timeout_is_stored(shared: Any, run_waiter: Any) -> None:
    client = shared.client
    created = _post(
        client, function="slow", cases=[{"inputs": {"seconds": 5}}], timeout_s=0.5
    ).json()
    run = run_waiter(client, created["id"], timeout=15)
    [result] = run["results"]
    assert result["status"] == "timeout", result
    assert result["duration_ms"] < 5000


def test_cancel_closes_running_and_pending_cases(shared: Any, run_waiter: Any) -> None:
    client = shared.client
    cases = [{"id": f"s{n}", "inputs": {"seconds": 30}} for n in range(4)]
    created = _post(client, function="slow", cases=cases, concurrency=2).json()
    run_waiter(client, created["id"], lambda run: run["progress"]["counts"]["running"] == 2)
    started = time.monotonic()
    cancelled = client.post(f"/api/v1/test-runs/{created['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    run = run_waiter(client, created["id"], lambda run: run["progress"]["done"] == 4, timeout=10)
    assert time.monotonic() - started < 8  # not the 30 s of the function
    assert run["status"] == "cancelled"
    assert {r["status"] for r in run["results"]} == {"cancelled"}
    again = client.post(f"/api/v1/test-runs/{created['id']}/cancel")
    assert again.json()["status"] == "cancelled"
    assert client.post("/api/v1/test-runs/0000-0000/cancel").status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"function": "answer", "cases": []}, "cases"),
        ({"function": "", "cases": [{"inputs": {}}]}, "function"),
        ({"function": "answer", "cases": [{"inputs": []}]}, "inputs"),
        ({"function": "answer", "cases": [{"id": "a"}, {"id": "a"}]}, "used twice"),
        ({"function": "answer", "cases": [{"inputs": {}}], "timeout_s": 0}, "timeout_s"),
        ({"function": "answer", "cases": [{"inputs": {}}], "surprise": 1}, "surprise"),
        ({"function": "answer", "cases": [{"inputs": {}}], "concurrency": 0}, "concurrency"),
    ],
)
def test_bad_run_requests_are_refused_and_write_nothing(
    client: httpx.Client, body: dict[str, Any], fragment: str
) -> None:
    response = client.post("/api/v1/test-runs", json=body)
    assert response.status_code == 422
    assert fragment in response.text
    assert client.get("/api/v1/test-runs").json()["total"] == 0


def test_unknown_function_is_a_409_with_what_to_do(
    receiver: Any, project: Any, client: httpx.Client, endpoint_app: Any
) -> None:
    missing = _post(client, function="answer", cases=[{"inputs": {}}])
    assert missing.status_code == 409
    assert "spanlink.endpoint.connect" in missing.json()["message"]
    endpoint_app(receiver.url, project.api_key, "staging")
    elsewhere = _post(client, function="answer", cases=[{"inputs": {}}])
    assert elsewhere.status_code == 409
    assert "'staging'" in elsewhere.json()["message"]
    unknown = _post(client, function="nope", cases=[{"inputs": {}}], environment="staging")
    assert unknown.status_code == 409
    assert client.get("/api/v1/test-runs").json()["total"] == 0
    ok = _post(
        client, function="answer", cases=[{"inputs": {"question": "q"}}], environment="staging"
    )
    assert ok.status_code == 201


def test_projects_cannot_invoke_or_read_each_other(
    receiver: Any,
    project: Any,
    client: httpx.Client,
    endpoint_app: Any,
    run_waiter: Any,
    database_url: str,
) -> None:
    endpoint_app(receiver.url, project.api_key)
    created = _post(client, function="answer", cases=[{"inputs": {"question": "q"}}]).json()
    run_waiter(client, created["id"])
    other_project = new_project(database_url, "other")
    with project_client(receiver.url, other_project.api_key) as other:
        refused = _post(other, function="answer", cases=[{"inputs": {"question": "q"}}])
        assert refused.status_code == 409
        assert other.get(f"/api/v1/test-runs/{created['id']}").status_code == 404
        assert other.post(f"/api/v1/test-runs/{created['id']}/cancel").status_code == 404
        assert other.get("/api/v1/test-runs").json()["total"] == 0
        assert other.get("/api/v1/endpoints").json()["items"] == []
    assert [e["functions"] for e in client.get("/api/v1/endpoints").json()["items"]] == [
        ["agent", "answer", "boom", "downstream", "gated_words", "late", "many_chunks", "slow"]
    ]
    assert (
        client.get("/api/v1/test-runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
