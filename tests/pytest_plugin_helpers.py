"""Helpers for the pytest plugin's tests: run a suite in a child pytest against a receiver.

The child runs with plugin autoloading off and the plugin given with ``-p`` (the installed
``pytest11`` entry point is tested on its own), so each run starts fast. ``evaluators_site``
lays out a small evaluator plugin the way an installer would, found through its entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SAMPLE = Path(__file__).resolve().parent / "pytest_plugin" / "sample"
PLUGIN = ["-p", "spanlink.pytest._plugin"]
RUN_LINE = re.compile(r"^run ([0-9a-f]{32}): ", re.MULTILINE)
_CLEAN = ("TRACEPARENT", "TRACESTATE", "BAGGAGE", "SPANLINK_ENDPOINT", "SPANLINK_API_KEY")


@dataclass
class Outcome:
    """A finished child pytest session."""

    returncode: int
    stdout: str
    stderr: str
    run_id: str | None

    def lines(self, needle: str) -> list[str]:
        """Output lines containing ``needle``."""
        return [line for line in (self.stdout + self.stderr).splitlines() if needle in line]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child pytest: ours without trace context or spanlink settings."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN and not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["SPANLINK_DISABLE_PLUGINS"] = "cost,anomaly"  # evaluators (evals) stay on
    env.update(extra)
    return env


def run_pytest(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> Outcome:
    """Run ``pytest`` in ``cwd`` in a child process."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGIN, "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env if env is not None else child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    found = RUN_LINE.search(done.stdout)
    return Outcome(done.returncode, done.stdout, done.stderr, found.group(1) if found else None)


def write_tests(directory: Path, source: str, name: str = "test_suite.py") -> Path:
    """Write a test module (dedented) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


EVALUATORS = '''
"""Evaluators of a small third-party plugin: an output check and a trace check."""
from spanlink.tracer import Score, hookimpl


class HasWord:
    name = "has_word"
    version = "1.0"
    needs_trace = False

    def validate(self, params):
        if not isinstance(params.get("word"), str):
            raise ValueError("has_word needs params {'word': str}")

    def evaluate(self, case, output, trace, *, params, threshold, enrichment=None):
        found = params["word"] in str(output)
        return Score(name="has_word", value=1.0 if found else 0.0, passed=found,
                     explanation=f"{params['word']!r} {'in' if found else 'not in'} output")


class MadeSpan:
    name = "made_span"
    version = "1.0"
    needs_trace = True

    def validate(self, params):
        pass

    def evaluate(self, case, output, trace, *, params, threshold, enrichment=None):
        names = [span.name for span in trace.spans] if trace is not None else []
        found = params["name"] in names
        return Score(name="made_span", passed=found, explanation=f"spans: {names}")


@hookimpl
def spanlink_evaluators():
    return [HasWord(), MadeSpan()]
'''


def spanlink_args(reporting: dict[str, str]) -> list[str]:
    """Options of a child session reporting to the live receiver."""
    url, key = reporting["url"], reporting["key"]
    return ["--spanlink", "--spanlink-url", url, "--spanlink-api-key", key]


def read_run(client: httpx.Client, run_id: str | None) -> dict[str, Any]:
    """The run as the receiver has it."""
    assert run_id is not None, "the session printed no run id"
    answer = client.get(f"/api/v1/test-runs/{run_id}")
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


def by_case(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's results by case id."""
    return {result["case_id"]: result for result in run["results"]}


def new_key(database_url: str) -> str:
    """An API key of a new project."""
    from spanlink.receiver.storage import create_api_key

    return create_api_key(database_url, f"pytest-{uuid.uuid4().hex[:10]}")


def dump(outcome: Outcome) -> str:
    """For assertion messages."""
    return json.dumps({"stdout": outcome.stdout[-3000:], "stderr": outcome.stderr[-3000:]})
