"""``--spanlink-local``: the session's own receiver, started as its command in a child process.

The session imports nothing from the receiver (so the receiver's own work can never be
traced into the session's run), reports into it, and the receiver stops with the session.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_plugin_helpers import child_env, read_run, run_pytest, write_tests

SUITE = """
import sys

def test_the_receiver_does_not_serve_in_this_process():
    # (Its linking-strategy plugin may be loaded through its entry point, as any plugin.)
    for serving in ("spanlink.receiver.app", "spanlink.receiver.server", "uvicorn"):
        assert serving not in sys.modules, serving

def test_two():
    pass
"""
PYTEST_SOURCES = Path(__file__).resolve().parents[2] / "packages" / "spanlink-pytest" / "src"
LOCAL_LINE = re.compile(r"^local receiver: (\S+) \(API key (slk_\S+)\)", re.MULTILINE)


def test_the_local_receiver_is_a_child_process_that_stops_with_the_session(
    tmp_path: Path, database_url: str, receiver: Any
) -> None:
    write_tests(tmp_path, SUITE)
    outcome = run_pytest(
        tmp_path, "--spanlink-local", env=child_env(SPANLINK_DATABASE_URL=database_url)
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    found = LOCAL_LINE.search(outcome.stdout)
    assert found is not None, outcome.stdout
    local_url, key = found.groups()
    assert local_url != receiver.url
    with pytest.raises(httpx.TransportError):  # it stopped with the session
        httpx.get(f"{local_url}/readyz", timeout=5)
    # What it stored is in the database: read it through another receiver on it.
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=receiver.url, headers=headers, timeout=30) as client:
        run = read_run(client, outcome.run_id)
    assert run["status"] == "completed" and run["source"] == "pytest"
    assert sorted(result["status"] for result in run["results"]) == ["passed", "passed"]


def test_a_local_receiver_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    write_tests(tmp_path, "def test_one():\n    pass\n")
    unreachable = "postgresql://postgres@127.0.0.1:9/nothing"
    outcome = run_pytest(
        tmp_path, "--spanlink-local", env=child_env(SPANLINK_DATABASE_URL=unreachable)
    )
    output = outcome.stdout + outcome.stderr
    assert outcome.returncode != 0
    assert "the local receiver could not start" in output
    assert "cannot reach the database" in output  # the receiver's own words
    assert "Traceback" not in output


def test_the_plugin_never_imports_the_receiver() -> None:
    """Nothing depends on the receiver: the plugin starts it as a command."""
    found = []
    for path in PYTEST_SOURCES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.startswith("spanlink.receiver")]
    assert found == []
