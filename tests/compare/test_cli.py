"""``spanlink-receiver test-run compare``: the CI gate against a live receiver."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from compare_helpers import insert_run, score

from spanlink.receiver.cli import main


def test_compare_prints_regressions_first_and_exits_1(
    receiver: Any, project: Any, database_url: str, cli: Any
) -> None:
    run = cli(project.api_key, with_stderr=True)
    cases = {"alpha": {}, "zulu": {"scores": [score("relevance", 0.9)]}}
    baseline = insert_run(database_url, project.id, cases)
    worse = insert_run(
        database_url,
        project.id,
        {"alpha": {}, "zulu": {"scores": [score("relevance", 0.4)]}},
        branch="feature",
        minutes=5,
    )
    status, out = run("test-run", "compare", worse, "--url", receiver.url)
    assert status == 1, out
    assert out.index("zulu") < out.index("alpha"), out  # the regression comes first
    assert "score relevance dropped 0.9 -> 0.4" in out
    assert "1 regression(s)" in out
    same = insert_run(database_url, project.id, cases, branch="feature", minutes=6)
    status, out = run("test-run", "compare", same, "--baseline", baseline, "--url", receiver.url)
    assert status == 0, out
    assert "2 unchanged" in out


def test_compare_unknown_run_exits_2_with_the_reason(receiver: Any, project: Any, cli: Any) -> None:
    run = cli(project.api_key, with_stderr=True)
    missing = str(uuid.uuid4())
    status, out = run("test-run", "compare", missing, "--url", receiver.url)
    assert status == 2
    assert f"test run {missing} not found" in out


def test_test_run_without_function_or_compare_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["test-run", "--cases", "x.jsonl"]) == 2
    assert "test-run needs --function and one of --cases or --dataset" in capsys.readouterr().out
