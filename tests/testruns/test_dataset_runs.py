"""Runs started from a dataset version, and ``spanlink-receiver datasets push|ls|show`` and
``test-run --dataset NAME[@VERSION]`` against a live receiver and a real endpoint app."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any


def _name() -> str:
    return f"ds-{uuid.uuid4().hex[:8]}"


def test_a_run_takes_a_dataset_versions_cases(shared: Any, run_waiter: Any) -> None:
    http = shared.client
    name = _name()
    v1 = [
        {"id": "good", "inputs": {"question": "a", "spans": 2}, "expected_output": "answer to a"},
        {"id": "wrong", "inputs": {"question": "b", "spans": 2}, "expected_output": "nope"},
    ]
    assert http.post("/api/v1/datasets", json={"name": name, "cases": v1}).status_code == 201
    v2 = [{"id": "only", "inputs": {"question": "c", "spans": 2}}]
    assert http.post("/api/v1/datasets", json={"name": name, "cases": v2}).json()["version"] == 2

    first = http.post(
        "/api/v1/test-runs", json={"function": "answer", "dataset": name, "dataset_version": 1}
    )
    assert first.status_code == 201, first.text
    assert [r["case_id"] for r in first.json()["results"]] == ["good", "wrong"]
    run = run_waiter(http, first.json()["id"])
    assert {r["case_id"]: r["status"] for r in run["results"]} == {
        "good": "passed",
        "wrong": "failed",
    }
    assert run["metadata"]["dataset"] == name and run["metadata"]["dataset_version"] == 1
    assert run["metadata"]["dataset_id"]

    latest = http.post("/api/v1/test-runs", json={"function": "answer", "dataset": name})
    assert [r["case_id"] for r in latest.json()["results"]] == ["only"]
    assert run_waiter(http, latest.json()["id"])["metadata"]["dataset_version"] == 2


def test_bad_dataset_runs_are_refused(shared: Any) -> None:
    http = shared.client
    name = _name()
    http.post("/api/v1/datasets", json={"name": name, "cases": [{"id": "a"}]})
    cases = [{"inputs": {"question": "x"}}]
    for body, status, says in (
        ({"function": "answer", "dataset": "missing-ds"}, 404, "not found in this project"),
        ({"function": "answer", "dataset": name, "dataset_version": 7}, 404, "version 7"),
        ({"function": "answer", "dataset": name, "cases": cases}, 422, "not both"),
        ({"function": "answer", "dataset_version": 1, "cases": cases}, 422, "needs dataset"),
        ({"function": "answer"}, 422, "give cases"),
    ):
        answer = http.post("/api/v1/test-runs", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert says in answer.text, (body, answer.text)


def test_datasets_cli_pushes_lists_shows_and_runs(
    receiver: Any, shared: Any, tmp_path: Path, cli: Any
) -> None:
    run = cli(shared.project.api_key)
    url = ("--url", receiver.url)
    name = _name()
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"id": "good", "inputs": {"question": "a", "spans": 2}, "expected_output": "answer to a"},
        {"id": "other", "inputs": {"question": "b", "spans": 2}, "metadata": {"k": 1}},
    ]
    cases.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    status, out = run("datasets", "push", name, str(cases), *url)
    assert status == 0 and f"{name}@1: 2 case(s), created" in out, out
    status, out = run("datasets", "push", name, str(cases), *url)
    assert status == 0 and f"{name}@1: 2 case(s), unchanged" in out, out
    cases.write_text(json.dumps({"id": "third", "inputs": {"question": "c", "spans": 2}}) + "\n")
    status, out = run("datasets", "push", name, str(cases), "--add", *url)
    assert status == 0 and f"{name}@2: 3 case(s), new version" in out, out

    status, out = run("datasets", "ls", *url)
    assert status == 0 and name in out, out
    status, out = run("datasets", "show", f"{name}@1", *url)
    assert status == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [
        "good",
        "other",
    ]

    status, out = run("test-run", "--function", "answer", "--dataset", f"{name}@1", *url)
    assert status == 0 and "2/2 passed" in out, out
    assert "equals:pass" in out  # the expected output of "good", judged by equals
    status, out = run("test-run", "--function", "answer", "--dataset", name, *url)
    assert status == 0 and "3/3 passed" in out and "third" in out, out


def test_datasets_cli_reports_bad_input_clearly(
    receiver: Any, project: Any, tmp_path: Path, cli: Any
) -> None:
    run = cli(project.api_key)
    url = ("--url", receiver.url)
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "evaluators": [{"name": "regex", "params": {"pattern": "("}}]}\n')
    status, out = run("datasets", "push", _name(), str(cases), *url)
    assert status == 2 and "422" in out and "cases[0].evaluators[0] ('regex')" in out, out
    cases.write_text('{"id": "a", "surprise": 1}\n')
    status, out = run("datasets", "push", _name(), str(cases), *url)
    assert status == 2 and "unknown keys" in out, out
    status, out = run("test-run", "--function", "f", "--dataset", "x@zero", *url)
    assert status == 2 and "must be a number" in out, out
    status, out = run("test-run", "--function", "f", "--dataset", "nope", *url)
    assert status == 2 and "404" in out and "not found" in out, out
