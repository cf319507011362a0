"""Receiver-driven runs judged by evaluators: a dataset run against a real endpoint app
where output evaluators, the judge (a local fake OpenAI-compatible server) and trace
evaluators (tool order, cost budget, no errors) each pass on one case and fail on another,
including a case whose decisive span arrives after its result; evaluators that raise or
hang; bad configurations refused at run creation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fake_openai import FakeOpenAI, Reply
from plugin_helpers import install_sample


@pytest.fixture
def judge() -> Iterator[FakeOpenAI]:
    """A judge that scores an answer about Norway high and anything else low."""
    server = FakeOpenAI()

    def respond(body: dict[str, Any]) -> Reply:
        prompt = " ".join(m["content"] for m in body["messages"])
        good = "Answer: capital of Norway" in prompt
        score = 0.9 if good else 0.2
        return Reply(content=f'{{"score": {score}, "explanation": "judged {score}"}}')

    server.respond = respond
    yield server
    server.close()


@pytest.fixture
def app_client(
    receiver: Any, project: Any, endpoint_app: Callable[..., Any]
) -> Iterator[httpx.Client]:
    """A client of a project of its own with an endpoint app connected and known prices."""
    endpoint_app(receiver.url, project.api_key)
    with httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {project.api_key}"}, timeout=30
    ) as http:
        prices = {"gpt-4o-mini": {"input": 1e-06, "output": 2e-06}}
        assert http.put("/api/v1/prices", json={"prices": prices}).status_code == 200
        yield http


def _wait(
    http: httpx.Client, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = http.get(f"/api/v1/test-runs/{run_id}").json()
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not get there in {timeout} s: {run}")
        time.sleep(0.1)


def _scores(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {score["name"]: score for score in result["scores"]}


def test_a_dataset_run_is_judged_on_its_output_and_its_trace(
    app_client: httpx.Client, judge: FakeOpenAI, database_url: str
) -> None:
    http = app_client
    name = f"agent-{uuid.uuid4().hex[:6]}"
    cases = [
        {"id": "good", "inputs": {"question": "capital of Norway", "tools": ["search", "lookup"]}},
        {
            "id": "bad",
            "inputs": {
                "question": "capital of Sweden",
                "tools": ["lookup", "search"],
                "failing_tool": "lookup",
                "input_tokens": 10_000_000,
            },
        },
        {
            "id": "late",  # its lookup span is exported 1.5 s after the result
            "inputs": {
                "question": "capital of Norway",
                "tools": ["search"],
                "late_tool": "lookup",
                "late_delay": 1.5,
            },
            "evaluators": [{"name": "tool_order", "params": {"names": ["search", "lookup"]}}],
        },
    ]
    assert http.post("/api/v1/datasets", json={"name": name, "cases": cases}).status_code == 201
    evaluators = [
        {"name": "contains", "params": {"value": "Norway"}},
        {"name": "regex", "params": {"pattern": "^Answer: "}},
        {
            "name": "llm_judge",
            "params": {"rubric": "About Norway?", "model": "judge-1", "base_url": judge.base_url},
            "threshold": 0.5,
        },
        {"name": "tool_order", "params": {"names": ["search", "lookup"]}},
        {"name": "max_cost_usd", "params": {"max": 0.01}},
        {"name": "no_error_spans"},
    ]
    created = http.post(
        "/api/v1/test-runs",
        json={"function": "agent", "dataset": name, "evaluators": evaluators},
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    run = _wait(http, run_id, lambda run: run["status"] == "completed")
    results = {r["case_id"]: r for r in run["results"]}
    good, bad = _scores(results["good"]), _scores(results["bad"])
    assert results["good"]["status"] == "passed", results["good"]
    assert all(score["passed"] is True for score in good.values()), good
    assert set(good) == {
        "contains",
        "regex",
        "llm_judge",
        "tool_order",
        "max_cost_usd",
        "no_error_spans",
    }
    assert good["llm_judge"]["value"] == 0.9 and good["llm_judge"]["explanation"] == "judged 0.9"
    assert results["bad"]["status"] == "failed"
    assert {n: s["passed"] for n, s in bad.items()} == {
        "contains": False,
        "regex": True,
        "llm_judge": False,
        "tool_order": False,
        "max_cost_usd": False,
        "no_error_spans": False,
    }
    assert bad["no_error_spans"]["span_id"]  # the failing span
    assert all(s["explanation"] and s["evaluator"] and s["error"] is None for s in bad.values())

    # The late case: judged without its lookup span first, then again once it arrived.
    late = _wait(
        http,
        run_id,
        lambda run: {r["case_id"]: r for r in run["results"]}["late"]["status"] == "passed",
    )
    (score,) = {r["case_id"]: r for r in late["results"]}["late"]["scores"]
    assert score["name"] == "tool_order" and score["passed"] is True
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT metadata->>'evaluations' FROM test_results WHERE run_id = %s AND case_id = %s",
            (run_id, "late"),
        ).fetchone()
    assert row is not None and int(row[0]) >= 2  # judged before the span came, and after
    by_result = http.get("/api/v1/scores", params={"run_id": run_id, "name": "tool_order"})
    assert len(by_result.json()["items"]) == 3  # replaced on the re-run, never duplicated


def test_bad_configurations_are_refused_at_run_creation(shared: Any, database_url: str) -> None:
    http = shared.client
    before = http.get("/api/v1/test-runs").json()["total"]
    cases = [{"id": "a", "inputs": {"question": "x"}}]
    for evaluators, says in (
        ([{"name": "no_such"}], "no evaluator of that name"),
        ([{"name": "regex", "params": {"pattern": "(unclosed"}}], "regex"),
        ([{"name": "json_schema", "params": {"schema": {"type": 12}}}], "json_schema"),
        ([{"name": "contains", "params": {}}], "contains"),
        ([{"name": "tool_order", "params": {"names": "search"}}], "tool_order"),
        ([{"name": "contains", "params": {"value": "x"}, "threshold": "high"}], "threshold"),
    ):
        for body in (
            {"function": "answer", "cases": cases, "evaluators": evaluators},
            {"function": "answer", "cases": [{**cases[0], "evaluators": evaluators}]},
        ):
            answer = http.post("/api/v1/test-runs", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert says in answer.text, (body, answer.text)
    assert http.get("/api/v1/test-runs").json()["total"] == before  # nothing created


def test_an_evaluator_that_fails_makes_the_case_error_and_the_run_still_finishes(
    shared: Any, run_waiter: Any
) -> None:
    http = shared.client
    down = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    cases = [
        {
            "id": "judge-down",
            "inputs": {"question": "x", "spans": 1},
            "evaluators": [
                {"name": "llm_judge", "params": {"rubric": "ok?", "model": "m", "base_url": down}},
                {"name": "contains", "params": {"value": "answer"}},
            ],
        },
        {
            "id": "not-required",
            "inputs": {"question": "y", "spans": 1},
            "evaluators": [
                {
                    "name": "llm_judge",
                    "params": {"rubric": "ok?", "model": "m", "base_url": down},
                    "required": False,
                },
                {"name": "contains", "params": {"value": "answer"}},
            ],
        },
        {"id": "expected", "inputs": {"question": "z", "spans": 1}, "expected_output": "nope"},
    ]
    created = http.post("/api/v1/test-runs", json={"function": "answer", "cases": cases})
    assert created.status_code == 201, created.text
    run = run_waiter(http, created.json()["id"], timeout=60)
    assert run["status"] == "completed"
    results = {r["case_id"]: r for r in run["results"]}
    broken = results["judge-down"]
    assert broken["status"] == "error"
    assert broken["error"].startswith("EvaluatorError: llm_judge")
    scores = _scores(broken)
    assert scores["llm_judge"]["error"] and scores["llm_judge"]["passed"] is None
    assert scores["contains"]["passed"] is True  # the others still judged
    assert results["not-required"]["status"] == "passed"
    assert results["expected"]["status"] == "failed"  # expected_output is the equals evaluator
    assert [s["name"] for s in results["expected"]["scores"]] == ["equals"]


def test_a_custom_evaluator_package_is_used_by_a_run(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, own_receiver: Any
) -> None:
    """``tests/plugins/sample_evaluator`` installed as its own package: found through its
    entry point by a receiver started after it was installed."""
    import sys
    from pathlib import Path

    from spanlink.receiver.settings import Settings

    sample = Path(__file__).parent.parent / "plugins" / "sample_evaluator"
    module = install_sample(tmp_path, sample)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with own_receiver(Settings(database_url=database_url)) as http:
            cases = [
                {"id": "short", "inputs": {"question": "x", "spans": 1}},
                {"id": "long", "inputs": {"question": "a b c d e f g h", "spans": 1}},
            ]
            body = {
                "function": "answer",
                "cases": cases,
                "evaluators": [{"name": "brevity", "params": {"max_words": 4}}],
            }
            created = http.post("/api/v1/test-runs", json=body)
            assert created.status_code == 201, created.text
            run = _wait(http, created.json()["id"], lambda run: run["status"] == "completed")
            results = {r["case_id"]: r for r in run["results"]}
            assert results["short"]["status"] == "passed"
            assert results["long"]["status"] == "failed"
            (score,) = results["long"]["scores"]
            assert score["evaluator"] == "brevity" and score["evaluator_version"] == "1.0"
            bad = http.post(
                "/api/v1/test-runs",
                json={**body, "evaluators": [{"name": "brevity", "params": {"max_words": 0}}]},
            )
            assert bad.status_code == 422 and "max_words" in bad.text
    finally:
        sys.modules.pop(module, None)


def test_scores_of_evaluated_results_are_redacted(
    app_client: httpx.Client, database_url: str, project: Any
) -> None:
    http = app_client
    rules = {"builtin": [], "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}]}
    assert http.put("/api/v1/redaction", json=rules).status_code == 200
    cases = [{"id": "t", "inputs": {"question": "TKT-123456"}}]
    evaluators = [{"name": "contains", "params": {"value": "TKT-123456"}}]
    created = http.post(
        "/api/v1/test-runs", json={"function": "agent", "cases": cases, "evaluators": evaluators}
    )
    run = _wait(http, created.json()["id"], lambda run: run["status"] == "completed")
    assert run["results"][0]["status"] in ("passed", "failed")
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT coalesce(explanation, '') || coalesce(label, '') FROM scores "
            "WHERE project_id = %s",
            (project.id,),
        ).fetchall()
    assert stored and all("TKT-123456" not in row[0] for row in stored)


@pytest.mark.parametrize("via", ["run", "dataset"])
def test_a_judge_prompt_is_redacted_before_it_is_stored_or_sent(
    app_client: httpx.Client, database_url: str, project: Any, judge: FakeOpenAI, via: str
) -> None:
    # A rubric written with a secret in it: the project's rules apply to it like to the
    # case's inputs (it is stored with the case and sent to the judge model).
    http = app_client
    secret = "TKT-654321"
    rules = {"builtin": [], "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}]}
    assert http.put("/api/v1/redaction", json=rules).status_code == 200
    evaluators = [
        {
            "name": "llm_judge",
            "params": {
                "rubric": f"Is {secret} answered?",
                "model": "j",
                "base_url": judge.base_url,
            },
        }
    ]
    case = {"id": "c", "inputs": {"question": "about Norway"}, "evaluators": evaluators}
    if via == "dataset":
        name = f"judged-{uuid.uuid4().hex[:8]}"
        pushed = http.post("/api/v1/datasets", json={"name": name, "cases": [case]})
        assert pushed.status_code == 201, pushed.text
        body: dict[str, Any] = {"function": "agent", "dataset": name}
    else:
        body = {"function": "agent", "cases": [case]}
    created = http.post("/api/v1/test-runs", json=body)
    assert created.status_code == 201, created.text
    run = _wait(http, created.json()["id"], lambda run: run["status"] == "completed")
    assert run["results"][0]["scores"], run
    assert judge.requests, "the judge was not asked"
    assert all(secret not in json.dumps(request) for request in judge.requests)
    assert any("[REDACTED:ticket]" in json.dumps(request) for request in judge.requests)
    with psycopg.connect(database_url) as connection:
        dumped = connection.execute(
            "SELECT (SELECT coalesce(json_agg(r)::text, '') FROM test_results r "
            "WHERE r.project_id = %(p)s) || (SELECT coalesce(json_agg(d)::text, '') "
            "FROM dataset_cases d WHERE d.project_id = %(p)s)",
            {"p": project.id},
        ).fetchone()
    assert dumped is not None and secret not in dumped[0]
