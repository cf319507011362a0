"""Client-reported test runs (pytest): create, upsert results, link spans, finish, sweep."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from spanlink.exporter import SpanlinkExporter
from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import reported
from spanlink.tracer import SpanlinkProcessor, test_context
from spanlink.tracer.plugins import get_plugin_manager


def _new_run(client: httpx.Client, **extra: Any) -> str:
    run_id = uuid.uuid4().hex
    answer = client.post(
        "/api/v1/test-runs",
        json={"source": "pytest", "id": run_id, "name": "suite", "metadata": {"k": 1}, **extra},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == run_id
    assert body["url"].endswith(f"/ui/#/runs/{run_id}")
    return run_id


def _result(status: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("id", uuid.uuid4().hex),
        "case_id": extra.pop("case_id", "tests/test_a.py::test_one"),
        "status": status,
        **extra,
    }


def _post(client: httpx.Client, run_id: str, *results: dict[str, Any]) -> httpx.Response:
    return client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": list(results)})


@pytest.fixture
def provider(receiver: Any, api_key: str) -> Iterator[TracerProvider]:
    """A tracer provider exporting synchronously to the live receiver."""
    provider = TracerProvider()
    exporter = SpanlinkExporter(endpoint=receiver.url, api_key=api_key)
    provider.add_span_processor(
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(exporter), plugin_manager=get_plugin_manager()
        )
    )
    yield provider
    provider.shutdown()


def test_a_run_is_created_once_and_reads_back_as_pytest_source(client: httpx.Client) -> None:
    run_id = _new_run(client)
    again = client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id})
    assert again.status_code == 200 and again.json()["created"] is False
    run = client.get(f"/api/v1/test-runs/{run_id}").json()
    assert run["source"] == "pytest"
    assert run["status"] == "running"
    assert run["name"] == "suite"
    assert run["metadata"] == {"k": 1}
    assert run["url"].endswith(f"/ui/#/runs/{run_id}")


def test_results_are_upserted_and_a_final_one_is_never_reopened(client: httpx.Client) -> None:
    run_id = _new_run(client)
    result_id = uuid.uuid4().hex
    assert _post(client, run_id, _result(id=result_id, inputs={"lang": "es"})).status_code == 200
    run = client.get(f"/api/v1/test-runs/{run_id}").json()
    assert [r["status"] for r in run["results"]] == ["running"]
    final = _result(
        "failed",
        id=result_id,
        inputs={"lang": "es"},
        duration_ms=12.5,
        error="AssertionError: no",
        output={"answer": "hola"},
        scores=[{"name": "politeness", "value": 0.5, "passed": False, "explanation": "terse"}],
    )
    answer = _post(client, run_id, final)
    assert answer.json() == {"accepted": 1, "finished": 1}
    assert _post(client, run_id, _result(id=result_id)).status_code == 200  # late "running"
    (result,) = client.get(f"/api/v1/test-runs/{run_id}").json()["results"]
    assert result["status"] == "failed"
    assert result["input"] == {"lang": "es"}
    assert result["output"] == {"answer": "hola"}
    assert result["error"] == "AssertionError: no"
    assert result["duration_ms"] == 12.5
    (score,) = result["scores"]
    assert score["name"] == "politeness" and score["value"] == 0.5 and score["passed"] is False


def test_every_pytest_outcome_is_accepted_and_counted(client: httpx.Client) -> None:
    run_id = _new_run(client)
    statuses = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    answer = _post(client, run_id, *(_result(s, case_id=f"t::{s}") for s in statuses))
    assert answer.status_code == 200, answer.text
    run = client.get(f"/api/v1/test-runs/{run_id}").json()
    assert run["progress"]["done"] == 6
    assert all(run["progress"]["counts"][s] == 1 for s in statuses)


def test_spans_of_a_result_are_linked_by_its_id_and_by_its_trace(
    client: httpx.Client, provider: TracerProvider
) -> None:
    run_id = _new_run(client)
    result_id = uuid.uuid4().hex
    case_id = "tests/test_a.py::test_linked"
    tracer = provider.get_tracer("app")
    with test_context(run_id=run_id, case_id=case_id, result_id=result_id):
        with tracer.start_as_current_span("chat gpt-4o") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
    # A span of the same trace from a service that carries no test context.
    with tracer.start_as_current_span("other service") as other:
        other_trace = format(other.get_span_context().trace_id, "032x")
    _post(client, run_id, _result(id=result_id, case_id=case_id))
    _post(client, run_id, _result("passed", id=result_id, case_id=case_id, trace_id=other_trace))
    (result,) = client.get(f"/api/v1/test-runs/{run_id}").json()["results"]
    assert sorted(result["trace_ids"]) == sorted({trace_id, other_trace})
    assert result["span_count"] == 2


def test_finish_closes_the_run_and_errors_its_unfinished_results(client: httpx.Client) -> None:
    run_id = _new_run(client)
    _post(client, run_id, _result("passed", case_id="t::done"), _result(case_id="t::hung"))
    answer = client.post(f"/api/v1/test-runs/{run_id}/finish")
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["status"] == "completed"
    by_case = {r["case_id"]: r for r in run["results"]}
    assert by_case["t::done"]["status"] == "passed"
    assert by_case["t::hung"]["status"] == "error"
    assert by_case["t::hung"]["error"] == reported.UNFINISHED_ERROR
    assert client.post(f"/api/v1/test-runs/{run_id}/finish").status_code == 200


def test_bad_reports_are_refused_with_reasons(client: httpx.Client, receiver: Any) -> None:
    run_id = _new_run(client)
    assert _post(client, run_id, _result("exploded")).status_code == 422
    too_many = [_result() for _ in range(1001)]
    assert _post(client, run_id, *too_many).status_code == 422
    missing = _post(client, uuid.uuid4().hex, _result())
    assert missing.status_code == 404 and "create it first" in missing.json()["message"]
    assert client.post(f"/api/v1/test-runs/{uuid.uuid4().hex}/finish").status_code == 404


def test_ids_of_another_project_are_refused(
    client: httpx.Client, receiver: Any, database_url: str
) -> None:
    from spanlink.receiver.storage import create_api_key

    other_key = create_api_key(database_url, f"other-{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {other_key}"}
    with httpx.Client(base_url=receiver.url, headers=headers, timeout=30) as other:
        theirs = _new_run(other)
        result_id = uuid.uuid4().hex
        assert _post(other, theirs, _result(id=result_id)).status_code == 200
    taken = client.post("/api/v1/test-runs", json={"source": "pytest", "id": theirs})
    assert taken.status_code == 409
    mine = _new_run(client)
    assert _post(client, mine, _result(id=result_id)).status_code == 409
    assert client.get(f"/api/v1/test-runs/{theirs}").status_code == 404


@contextmanager
def _sweeping_receiver(database_url: str, api_key: str) -> Iterator[httpx.Client]:
    """A receiver of its own sweeping every 0.2 s, and a client with the project's key."""
    settings = Settings(database_url=database_url, linking_sweep_interval_s=0.2)
    headers = {"Authorization": f"Bearer {api_key}"}
    with start_in_thread(settings) as server:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            yield http


def test_a_run_whose_reporter_vanished_is_finished_by_the_sweep(
    database_url: str, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reported, "REPORTER_STALE_S", 1.0)
    with _sweeping_receiver(database_url, project.api_key) as http:
        run_id = _new_run(http)
        _post(http, run_id, _result("passed", case_id="t::ok"), _result(case_id="t::killed"))
        deadline = time.monotonic() + 30
        run = http.get(f"/api/v1/test-runs/{run_id}").json()
        while run["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            run = http.get(f"/api/v1/test-runs/{run_id}").json()
    assert run["status"] == "completed"
    assert run["metadata"]["finish_reason"] == "reporter vanished"
    by_case = {r["case_id"]: r for r in run["results"]}
    assert by_case["t::ok"]["status"] == "passed"
    assert by_case["t::killed"]["status"] == "error"
    assert by_case["t::killed"]["error"] == reported.VANISHED_ERROR


def test_a_live_reporter_keeps_its_run_open(
    database_url: str, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reported, "REPORTER_STALE_S", 1.5)
    with _sweeping_receiver(database_url, project.api_key) as http:
        run_id = _new_run(http)
        _post(http, run_id, _result(case_id="t::long"))
        for _ in range(8):  # heartbeats for ~3 s, twice the staleness limit
            time.sleep(0.4)
            assert _post(http, run_id).status_code == 200
        run = http.get(f"/api/v1/test-runs/{run_id}").json()
    assert run["status"] == "running"
    assert [r["status"] for r in run["results"]] == ["running"]
