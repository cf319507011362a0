"""The README's install line for the pytest tour installs everything the tour needs.

Installing from paths, pip finds a ``spanlink-*`` dependency only when its path is given
too, so the line must hold the closure of the spanlink dependencies of what it names, and
the evaluator plugin the examples' suite calls.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _install_paths() -> list[str]:
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if "./packages/spanlink-pytest" in ln]
    return re.findall(r"\./[\w./-]+", line.split("#", 1)[0])


def _project(path: str) -> dict:
    with (ROOT / path / "pyproject.toml").open("rb") as file:
        project: dict = tomllib.load(file)["project"]
    return project


def test_the_pytest_tour_installs_every_spanlink_dependency() -> None:
    named = {_project(path)["name"]: path for path in _install_paths()}
    assert "spanlink-pytest" in named and "spanlink-receiver" in named
    for name, path in named.items():
        for dependency in _project(path).get("dependencies", []):
            wanted = Requirement(dependency).name
            if wanted.startswith("spanlink-"):
                assert wanted in named, f"{name} needs {wanted}: add its path to the README line"
    # examples/tests use the builtin evaluators (contains, no_error_spans, tool_called).
    assert "spanlink-plugin-evals" in named
