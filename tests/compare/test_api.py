"""The comparison API against a live receiver and Postgres: runs, baselines, trace diffs."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from compare_helpers import insert_run, score
from receiver_fixtures import new_project, project_client
from receiver_helpers import make_request, make_span, post_proto

from spanlink.receiver.compare import _queries
from spanlink.tracer.semconv import attributes as a


def compare(client: httpx.Client, run_id: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/v1/test-runs/{run_id}/compare", params=params)


def test_compare_with_the_auto_baseline_names_regressions_and_first_seen(
    client: httpx.Client, database_url: str, project: Any
) -> None:
    good = {
        "q1": {"scores": [score("relevance", 0.9)]},
        "q2": {"duration_ms": 200.0},
        "q3": {"status": "failed"},
    }
    baseline = insert_run(database_url, project.id, good, minutes=0)
    # An older main run and a run of another dataset are not the baseline.
    insert_run(database_url, project.id, good, minutes=-10)
    insert_run(database_url, project.id, {"q1": {"status": "failed"}}, dataset="other", minutes=5)
    mid = insert_run(
        database_url,
        project.id,
        {**good, "q2": {"duration_ms": 400.0}},
        branch="feature",
        minutes=10,
    )
    run = insert_run(
        database_url,
        project.id,
        {
            "q1": {"scores": [score("relevance", 0.5)]},
            "q2": {"duration_ms": 400.0},
            "q3": {"status": "passed"},
            "q4": {},
        },
        branch="feature",
        minutes=20,
    )
    response = compare(client, run, baseline="auto")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["baseline"]["id"] == baseline
    assert answer["baseline"]["selected"] == "auto"
    assert answer["run"]["commit"] == "commit-20" and answer["run"]["branch"] == "feature"
    assert answer["summary"]["counts"] == {
        "regressed": 2,
        "fixed": 1,
        "still_failing": 0,
        "new": 1,
        "removed": 0,
        "unchanged": 0,
    }
    assert [c["case_id"] for c in answer["cases"]][:2] == ["q1", "q2"]
    regressions = {r["case_id"]: r for r in answer["regressions"]}
    assert [r["kind"] for r in regressions["q1"]["reasons"]] == ["score"]
    assert regressions["q1"]["first_seen"]["run_id"] == run
    assert [r["kind"] for r in regressions["q2"]["reasons"]] == ["latency"]
    assert regressions["q2"]["first_seen"] == {
        "run_id": mid,
        "commit": "commit-10",
        "reasons": ["latency"],
    }
    # An explicit baseline gives the same comparison.
    explicit = compare(client, run, baseline=baseline).json()
    assert explicit["summary"]["counts"] == answer["summary"]["counts"]
    assert explicit["baseline"]["selected"] == "given"
    # Thresholds are parameters.
    lenient = compare(client, run, baseline=baseline, latency_ratio=2, score_drop=0.5).json()
    assert lenient["summary"]["counts"]["regressed"] == 0


def test_compare_linked_traces_tokens_and_costs(
    client: httpx.Client, database_url: str, project: Any
) -> None:
    baseline = insert_run(database_url, project.id, {"q": {"id": (b_id := str(uuid.uuid4()))}})
    run = insert_run(
        database_url, project.id, {"q": {"id": (r_id := str(uuid.uuid4()))}}, minutes=1
    )
    traces = {}
    for result_id, run_id, tokens in ((b_id, baseline, 100), (r_id, run, 300)):
        tid = os.urandom(16)
        traces[run_id] = tid.hex()
        attrs = {
            a.SPANLINK_TEST_RUN_ID: run_id,
            a.SPANLINK_TEST_RESULT_ID: result_id,
            a.SPANLINK_TEST_CASE_ID: "q",
            a.GEN_AI_OPERATION_NAME: a.OP_CHAT,
            a.GEN_AI_REQUEST_MODEL: "gpt-4o",
            a.GEN_AI_USAGE_INPUT_TOKENS: tokens,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
        }
        assert (
            post_proto(
                client, make_request([make_span(tid, os.urandom(8), attributes=attrs)])
            ).status_code
            == 200
        )
        # Enrich now (cost) rather than waiting for the background pass.
        assert client.get(f"/api/v1/traces/{tid.hex()}", params={"sync": "true"}).status_code == 200
    answer = compare(client, run, baseline=baseline).json()
    (case,) = answer["cases"]
    assert case["traces"] == {"run": [traces[run]], "baseline": [traces[baseline]]}
    assert case["deltas"]["tokens"] == {"baseline": 110, "run": 310, "delta": 200}
    assert case["deltas"]["cost_usd"]["delta"] > 0
    assert {r["kind"] for r in case["reasons"]} == {"tokens", "cost"}


def test_compare_bad_input(
    client: httpx.Client, database_url: str, project: Any, receiver: Any
) -> None:
    run = insert_run(database_url, project.id, {"q": {}}, minutes=1)
    other_project = new_project(database_url)
    foreign = insert_run(database_url, other_project.id, {"q": {}})
    # Another project's run, as the run or as the baseline: not found, nothing leaked.
    response = compare(client, foreign, baseline="auto")
    assert response.status_code == 404 and foreign in response.json()["message"]
    response = compare(client, run, baseline=foreign)
    assert response.status_code == 404
    assert "commit" not in response.text
    with project_client(receiver.url, other_project.api_key) as other:
        assert compare(other, run, baseline=foreign).status_code == 404
    assert compare(client, str(uuid.uuid4()), baseline=run).status_code == 404
    # No earlier finished run of the dataset on main: 404 saying what to pass.
    response = compare(client, run, baseline="auto")
    assert response.status_code == 404
    assert "pass baseline=" in response.json()["message"]
    assert compare(client, run, baseline="not a run id!").status_code == 422
    assert compare(client, run, baseline=run, score_threshold="nodrop").status_code == 422
    # A run with itself: allowed, all unchanged, with a warning.
    itself = compare(client, run, baseline=run).json()
    assert itself["summary"]["counts"]["unchanged"] == 1
    assert itself["warnings"] == ["the run is compared with itself: every case is unchanged"]
    # Different datasets: allowed, with a warning.
    other_ds = insert_run(database_url, project.id, {"q": {}}, dataset="other", minutes=2)
    assert "different datasets" in compare(client, other_ds, baseline=run).json()["warnings"][0]


def post_trace(client: httpx.Client, steps: list[tuple[str, dict[str, Any]]]) -> str:
    tid = os.urandom(16)
    root = os.urandom(8)
    spans = [make_span(tid, root, name="agent", duration_ns=50_000_000)]
    for index, (name, attrs) in enumerate(steps):
        start = spans[0].start_time_unix_nano + (index + 1) * 1_000_000
        spans.append(make_span(tid, os.urandom(8), root, name=name, start=start, attributes=attrs))
    assert post_proto(client, make_request(spans)).status_code == 200
    return tid.hex()


def tool(name: str) -> tuple[str, dict[str, Any]]:
    return ("execute_tool", {a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: name})


def test_trace_diff_names_the_inserted_tool_call(
    client: httpx.Client, receiver: Any, database_url: str
) -> None:
    chat = ("chat", {a.GEN_AI_OPERATION_NAME: a.OP_CHAT, a.GEN_AI_REQUEST_MODEL: "gpt-4o"})
    first = post_trace(client, [chat, tool("search"), chat])
    second = post_trace(client, [chat, tool("fetch"), tool("search"), chat])
    response = client.get(f"/api/v1/traces/{first}/diff/{second}")
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["a"]["trace_id"] == first and diff["b"]["trace_id"] == second
    assert diff["first_divergence"]["kind"] == "added"
    assert [t["name"] for t in diff["tool_calls"]["b"]] == ["fetch", "search"]
    assert diff["totals"]["counts"] == {"same": 4, "changed": 0, "added": 1, "removed": 0}
    # Upper-case ids are the same traces.
    assert client.get(f"/api/v1/traces/{first.upper()}/diff/{second}").status_code == 200


def test_trace_diff_bad_input(
    client: httpx.Client, receiver: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = post_trace(client, [tool("search")])
    other_project = new_project(database_url)
    with project_client(receiver.url, other_project.api_key) as other:
        theirs = post_trace(other, [tool("search")])
        assert other.get(f"/api/v1/traces/{mine}/diff/{theirs}").status_code == 404
    response = client.get(f"/api/v1/traces/{mine}/diff/{theirs}")
    assert response.status_code == 404 and theirs in response.json()["message"]
    assert client.get(f"/api/v1/traces/{mine}/diff/xyz").status_code == 422
    # Above the span limit: 413 naming the limit (the receiver runs in this process).
    monkeypatch.setattr(_queries, "MAX_DIFF_SPANS", 1)
    response = client.get(f"/api/v1/traces/{mine}/diff/{mine}")
    assert response.status_code == 413
    assert "at most 1 per trace" in response.json()["message"]
