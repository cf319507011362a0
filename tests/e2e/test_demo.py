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
    # The first run's tables; the second run (after the app's change) follows that line.
    first, second = out.split("again, with the order looked up", 1)
    rows: dict[str, str] = {}  # the first table's row of each case (the scores follow)
    for line in first.splitlines():
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
        for line in first.splitlines()
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
    assert "not judged: error" in first
    assert "chat gpt-4o-mini" in out and "cached 128" in out
    assert re.search(r"/ui/#/trace/[0-9a-f]{32}", out)
    # The second run, after the app's change: the order question regressed, and the diff of
    # its traces names where they first diverge.
    changes = {
        case: line.split("│")[2].strip()
        for line in out.split("vs baseline", 1)[1].splitlines()
        for case in ("refund-policy", "order-status", "unknown-order")
        if f"│ {case} " in line
    }
    assert changes == {
        "order-status": "regressed",
        "unknown-order": "still_failing",
        "refund-policy": "unchanged",
    }
    # Its answer no longer says "shipped": the case fails, and its contains evaluator with it
    # (the tool call it checks still happened).
    scores = second.split("vs baseline", 1)[0]
    missing = r"│ order-status +│ contains +│ no +│ 0 +│ found 0 of 1; missing \['shipped'\]"
    assert re.search(missing, scores), scores
    assert re.search(r"│ order-status +│ tool_called +│ yes ", scores), scores
    reasons = "status passed -> failed; score contains: passed -> failed"
    assert f"regression order-status: {reasons}\n" in out
    assert re.search(r"^first divergence: (added|removed) 'execute_tool lookup_order'", out, re.M)
    assert re.search(r"/ui/#/compare/[0-9a-f-]{36}\?baseline=[0-9a-f-]{36}", out)
    assert re.search(r"/ui/#/diff/[0-9a-f]{32}/[0-9a-f]{32}", out)
