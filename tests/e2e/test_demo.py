"""The README's demo, end to end: receiver, endpoint, test run, linked and enriched traces."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs_a_linked_enriched_test_run(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep rows on one line
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--database-url", database_url, "--no-keep-serving"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "completed" in out
    rows: dict[str, str] = {}  # the first table's row of each case (the scores follow)
    for line in out.splitlines():
        for case in ("refund-policy", "order-status", "unknown-order"):
            if case in line and "│" in line:
                rows.setdefault(case, line)
    assert set(rows) == {"refund-policy", "order-status", "unknown-order"}
    assert "passed" in rows["refund-policy"] and "passed" in rows["order-status"]
    assert "error" in rows["unknown-order"] and "error_span" in rows["unknown-order"]
    # Every passing case was priced from its linked LLM span.
    for case in ("refund-policy", "order-status"):
        assert re.search(r"\$0\.0000\d\d", rows[case]), rows[case]
    # The dataset's output and trace evaluators judged each case that ran.
    names = ("contains", "tool_not_called", "tool_called")
    judged = {
        (case, name)
        for line in out.splitlines()
        if "│" in line and "yes" in line
        for case in ("refund-policy", "order-status")
        for name in names
        if case in line and f" {name} " in line
    }
    assert judged == {
        ("refund-policy", "contains"),
        ("refund-policy", "tool_not_called"),
        ("order-status", "contains"),
        ("order-status", "tool_called"),
    }, out
    assert "not judged: error" in out
    assert "chat gpt-4o-mini" in out and "cached 128" in out
    assert re.search(r"/ui/#/trace/[0-9a-f]{32}", out)
