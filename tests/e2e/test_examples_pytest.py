"""The examples' pytest suite under ``pytest --spanlink-local``: the summary and the viewer URL.

Runs the way a user does (the plugin found through its installed ``pytest11`` entry point),
with the embedded receiver on the test database instead of an embedded Postgres.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_CLEAN = ("TRACEPARENT", "TRACESTATE", "BAGGAGE", "SPANLINK_ENDPOINT", "SPANLINK_API_KEY")


def test_spanlink_local_prints_the_summary_and_the_viewer_url(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN and not k.startswith("PYTEST_")}
    env["SPANLINK_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--spanlink-local"],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"^run [0-9a-f]{32}: 8 cases: 8 passed$", done.stdout, re.M), output
    assert "tokens: " in done.stdout
    url = re.search(r"^run: (http://127\.0\.0\.1:\d+/ui/#/runs/([0-9a-f]{32}))$", done.stdout, re.M)
    assert url is not None, output
    key = re.search(r"^local receiver: (\S+) \(API key (slk_\S+)\)", done.stdout, re.M)
    assert key is not None, output
    # The local receiver stopped with the session; the run is in the database.
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings

    with start_in_thread(Settings(database_url=database_url)) as receiver:
        headers = {"Authorization": f"Bearer {key.group(2)}"}
        with httpx.Client(base_url=receiver.url, headers=headers, timeout=30) as client:
            run = client.get(f"/api/v1/test-runs/{url.group(2)}").json()
    assert run["status"] == "completed" and run["source"] == "pytest"
    assert {result["status"] for result in run["results"]} == {"passed"}
    assert all(result["trace_ids"] for result in run["results"])
    scores = {
        result["case_id"].rsplit("::", 1)[1]: [(s["name"], s["passed"]) for s in result["scores"]]
        for result in run["results"]
        if result["scores"]
    }
    assert len(scores) == 5
    assert scores["test_the_refund_answer_is_judged_by_evaluators"] == [
        ("contains", True),
        ("no_error_spans", True),
    ]
    assert scores["test_the_order_answer_uses_the_tool"] == [
        ("tool_called", True),
        ("contains", True),
    ]
    assert sum(result["input_tokens"] for result in run["results"]) > 0
