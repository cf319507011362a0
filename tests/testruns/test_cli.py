"""``spanlink-receiver test-run`` against a live receiver and a real endpoint app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _run(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("SPANLINK_API_KEY", None)
    if key:
        env["SPANLINK_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "spanlink.receiver.cli", "test-run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_test_run_command_prints_the_per_case_table(
    receiver: Any, project: Any, endpoint_app: Any, tmp_path: Path
) -> None:
    endpoint_app(receiver.url, project.api_key)
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "\n".join(
            json.dumps(case)
            for case in (
                {
                    "id": "good",
                    "inputs": {"question": "a", "spans": 3},
                    "expected_output": "answer to a",
                },
                {"id": "wrong", "inputs": {"question": "b", "spans": 3}, "expected_output": "nope"},
            )
        )
        + "\n",
        encoding="utf-8",
    )
    done = _run(
        "--function", "answer", "--cases", str(cases), "--url", receiver.url, key=project.api_key
    )
    assert done.returncode == 1, done.stderr  # one case failed
    out = done.stdout
    assert "1/2 passed" in out
    for text in ("good", "passed", "wrong", "failed", "200/40"):
        assert text in out, out
    # Every case passes: exit status 0.
    cases.write_text(json.dumps({"inputs": {"question": "c", "spans": 2}}) + "\n")
    done = _run(
        "--function",
        "answer",
        "--cases",
        str(cases),
        "--url",
        receiver.url,
        "--api-key",
        project.api_key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "case-1" in done.stdout


def test_test_run_command_reports_bad_input_clearly(
    receiver: Any, project: Any, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"inputs": {}}\n{oops\n')
    done = _run(
        "--function", "f", "--cases", str(cases), "--url", receiver.url, key=project.api_key
    )
    assert done.returncode == 2
    assert "cases.jsonl:2: not valid JSON" in done.stdout
    cases.write_text('{"inputs": {}}\n')
    done = _run("--function", "f", "--cases", str(cases), "--url", receiver.url)
    assert done.returncode == 2 and "SPANLINK_API_KEY" in done.stdout
    done = _run(
        "--function", "f", "--cases", str(cases), "--url", receiver.url, key=project.api_key
    )
    assert done.returncode == 2 and "409" in done.stdout and "'f'" in done.stdout
    done = _run("--function", "f", "--cases", str(tmp_path / "missing.jsonl"), key=project.api_key)
    assert done.returncode == 2 and "cannot read" in done.stdout
