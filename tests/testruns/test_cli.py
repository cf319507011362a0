"""``spanlink-receiver test-run`` against a live receiver and a real endpoint app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def test_test_run_command_prints_the_per_case_table(
    receiver: Any, shared: Any, tmp_path: Path, cli: Any
) -> None:
    run = cli(shared.project.api_key)
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"id": "good", "inputs": {"question": "a", "spans": 3}, "expected_output": "answer to a"},
        {"id": "wrong", "inputs": {"question": "b", "spans": 3}, "expected_output": "nope"},
    ]
    cases.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    status, out = run(
        "test-run", "--function", "answer", "--cases", str(cases), "--url", receiver.url
    )
    assert status == 1, out  # one case failed
    assert "1/2 passed" in out
    for text in ("good", "passed", "wrong", "failed", "200/40"):
        assert text in out, out
    # Every case passes: exit status 0.
    cases.write_text(json.dumps({"inputs": {"question": "c", "spans": 2}}) + "\n")
    status, out = run(
        "test-run", "--function", "answer", "--cases", str(cases), "--url", receiver.url
    )
    assert status == 0, out
    assert "case-1" in out and "1/1 passed" in out


def test_test_run_command_reports_bad_input_clearly(
    receiver: Any, project: Any, tmp_path: Path, cli: Any
) -> None:
    run = cli(None)
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"inputs": {}}\n')
    url = ("--url", receiver.url)
    status, out = run("test-run", "--function", "f", "--cases", str(cases), *url)
    assert status == 2 and "SPANLINK_API_KEY" in out
    key = ("--api-key", project.api_key)
    status, out = run("test-run", "--function", "f", "--cases", str(cases), *url, *key)
    assert status == 2 and "409" in out and "'f'" in out
    missing = str(tmp_path / "missing.jsonl")
    status, out = run("test-run", "--function", "f", "--cases", missing, *key)
    assert status == 2 and "cannot read" in out
    # The installed command, as a user runs it.
    cases.write_text('{"inputs": {}}\n{oops\n')
    command = [sys.executable, "-m", "spanlink.receiver.cli", "test-run", "--function", "f"]
    done = subprocess.run(
        [*command, "--cases", str(cases), *url, *key],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2
    assert "cases.jsonl:2: not valid JSON" in done.stdout
