"""``spanlink-receiver test-run compare``: the CI gate against a live receiver."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from compare_helpers import insert_run, score

from spanlink.receiver.cli import main


def _compare(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    monkeypatch.setenv("COLUMNS", "200")
    status = main(["test-run", "compare", *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_compare_prints_regressions_first_and_exits_1(
    receiver: Any,
    project: Any,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPANLINK_API_KEY", project.api_key)
    cases = {"alpha": {}, "zulu": {"scores": [score("relevance", 0.9)]}}
    baseline = insert_run(database_url, project.id, cases)
    worse = insert_run(
        database_url,
        project.id,
        {"alpha": {}, "zulu": {"scores": [score("relevance", 0.4)]}},
        branch="feature",
        minutes=5,
    )
    status, out = _compare(capsys, monkeypatch, worse, "--url", receiver.url)
    assert status == 1, out
    assert out.index("zulu") < out.index("alpha"), out  # the regression comes first
    assert "score relevance dropped 0.9 -> 0.4" in out
    assert "1 regression(s)" in out
    same = insert_run(database_url, project.id, cases, branch="feature", minutes=6)
    status, out = _compare(capsys, monkeypatch, same, "--baseline", baseline, "--url", receiver.url)
    assert status == 0, out
    assert "2 unchanged" in out


def test_compare_unknown_run_exits_2_with_the_reason(
    receiver: Any,
    project: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPANLINK_API_KEY", project.api_key)
    missing = str(uuid.uuid4())
    status, out = _compare(capsys, monkeypatch, missing, "--url", receiver.url)
    assert status == 2
    assert f"test run {missing} not found" in out


def test_test_run_without_function_or_compare_says_what_to_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["test-run", "--cases", "x.jsonl"]) == 2
    assert "test-run needs --function and one of --cases or --dataset" in capsys.readouterr().out
