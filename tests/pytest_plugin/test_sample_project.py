"""End to end: a sample project's session against a real receiver and Postgres.

Passing, failing, erroring, skipped, xfail/xpass, parametrized, threaded, subprocess and
two-service tests; every case's spans linked to its result, scores stored.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_plugin_helpers import (
    SAMPLE,
    Outcome,
    by_case,
    child_env,
    dump,
    new_key,
    read_run,
    run_pytest,
)

NODE = "test_sample.py::"


@pytest.fixture(scope="module")
def session(
    receiver: Any, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Outcome, dict[str, Any], httpx.Client]]:
    key = new_key(database_url)
    project = tmp_path_factory.mktemp("sample")
    for path in SAMPLE.iterdir():
        if path.is_file():
            shutil.copy(path, project / path.name)
    # The child process of test_subprocess configures spanlink from the environment.
    env = child_env(SPANLINK_ENDPOINT=receiver.url, SPANLINK_API_KEY=key)
    outcome = run_pytest(project, "--spanlink", "--spanlink-run-name", "sample", env=env)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=receiver.url, headers=headers, timeout=30) as client:
        yield outcome, read_run(client, outcome.run_id), client


def _trace(client: httpx.Client, trace_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/traces/{trace_id}", params={"full": "true"})
    assert answer.status_code == 200, answer.text
    trace: dict[str, Any] = answer.json()
    return trace


def _spans(client: httpx.Client, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [span for t in result["trace_ids"] for span in _trace(client, t)["spans"]]


def test_the_session_is_one_finished_run_with_a_summary(session: Any) -> None:
    outcome, run, _ = session
    assert outcome.returncode == 1, dump(outcome)  # a test failed, as without the plugin
    assert run["source"] == "pytest"
    assert run["status"] == "completed"
    assert run["name"] == "sample"
    assert run["metadata"]["command"][0] == "pytest"
    assert "--spanlink" in run["metadata"]["command"]
    assert outcome.lines(f"run: {run['url']}"), dump(outcome)
    assert outcome.lines("11 cases: 6 passed, 1 failed, 1 error, 1 skipped, 1 xfailed, 1 xpassed")
    assert outcome.lines("slowest cases:")
    assert not outcome.lines("spanlink warning"), dump(outcome)


def test_every_outcome_is_reported(session: Any) -> None:
    _, run, _ = session
    statuses = {case: result["status"] for case, result in by_case(run).items()}
    assert statuses == {
        NODE + "test_passes": "passed",
        NODE + "test_fails": "failed",
        NODE + "test_errors": "error",
        NODE + "test_skipped": "skipped",
        NODE + "test_xfails": "xfailed",
        NODE + "test_xpasses": "xpassed",
        NODE + "test_parametrized[en]": "passed",
        NODE + "test_parametrized[es]": "passed",
        NODE + "test_threaded": "passed",
        NODE + "test_subprocess": "passed",
        NODE + "test_two_services": "passed",
    }
    assert len({result["id"] for result in run["results"]}) == len(run["results"])


def test_parametrized_tests_are_cases_with_their_parameters_as_inputs(session: Any) -> None:
    _, run, _ = session
    results = by_case(run)
    assert results[NODE + "test_parametrized[en]"]["input"] == {"lang": "en"}
    assert results[NODE + "test_parametrized[es]"]["input"] == {"lang": "es"}
    assert results[NODE + "test_passes"]["input"] == {}


def test_failure_text_and_duration_are_reported_bounded(session: Any) -> None:
    _, run, _ = session
    results = by_case(run)
    failed = results[NODE + "test_fails"]
    assert "AssertionError" in failed["error"]
    assert "characters cut" in failed["error"]
    assert len(failed["error"]) <= 8 * 1024
    assert "the fixture broke" in results[NODE + "test_errors"]["error"]
    assert results[NODE + "test_skipped"]["skip_reason"] == "not today"
    assert all(result["duration_ms"] >= 0 for result in run["results"])


def test_every_case_has_its_spans_linked_and_marked_by_phase(session: Any) -> None:
    _, run, client = session
    for result in run["results"]:
        spans = _spans(client, result)
        assert spans, result["case_id"]
        assert {span["test_result_id"] for span in spans} == {result["id"]}
        assert {span["test_case_id"] for span in spans} == {result["case_id"]}
        assert {span["test_run_id"] for span in spans} == {run["id"]}
        phases = {span["name"]: span["attributes"].get("spanlink.test.phase") for span in spans}
        assert phases["setup"] == "setup" and phases["teardown"] == "teardown"
        roots = [span for span in spans if span["name"].startswith("test ")]
        assert len(roots) == 1 and roots[0]["parent_span_id"] is None


def test_fixture_spans_belong_to_the_case_marked_setup(session: Any) -> None:
    _, run, client = session
    spans = _spans(client, by_case(run)[NODE + "test_errors"])
    (work,) = [span for span in spans if span["name"] == "fixture work"]
    assert work["attributes"]["spanlink.test.phase"] == "setup"


@pytest.mark.parametrize(
    ("case", "span_name"),
    [
        ("test_threaded", "worker 0"),
        ("test_threaded", "worker 1"),
        ("test_subprocess", "child process work"),
        ("test_two_services", "second service handle"),
        ("test_passes", "execute_tool lookup_order"),
    ],
)
def test_spans_across_threads_processes_and_services_join_the_case(
    session: Any, case: str, span_name: str
) -> None:
    _, run, client = session
    result = by_case(run)[NODE + case]
    spans = {span["name"]: span for span in _spans(client, result)}
    assert span_name in spans, sorted(spans)
    (root,) = [span for span in spans.values() if span["name"].startswith("test ")]
    assert spans[span_name]["trace_id"] == root["trace_id"]
    assert spans[span_name]["test_result_id"] == result["id"]


def test_scores_are_stored_and_emitted_on_the_root_span(session: Any) -> None:
    _, run, client = session
    result = by_case(run)[NODE + "test_passes"]
    (score,) = result["scores"]
    assert score["name"] == "helpfulness"
    assert score["value"] == 0.75 and score["label"] == "good" and score["passed"] is True
    (root,) = [span for span in _spans(client, result) if span["name"] == "test test_passes"]
    (event,) = [e for e in root["events"] if e["name"] == "gen_ai.evaluation.result"]
    attributes = event["attributes"]
    assert attributes["gen_ai.evaluation.name"] == "helpfulness"
    assert attributes["gen_ai.evaluation.score.value"] == 0.75
    assert attributes["gen_ai.evaluation.score.label"] == "good"
    assert attributes["gen_ai.evaluation.explanation"] == "answered"
    assert root["attributes"]["spanlink.test.outcome"] == "passed"


def test_the_failed_case_root_span_is_an_error(session: Any) -> None:
    _, run, client = session
    result = by_case(run)[NODE + "test_fails"]
    (root,) = [span for span in _spans(client, result) if span["name"] == "test test_fails"]
    assert root["status_code"] == "ERROR"
