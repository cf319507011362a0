"""Fixtures for ``tests/pytest_plugin`` (helpers: ``pytest_plugin_helpers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import write_distribution
from pytest_plugin_helpers import EVALUATORS, child_env

collect_ignore = ["sample"]


@pytest.fixture(scope="session")
def evaluators_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding an installed evaluator plugin (module + dist-info + entry point)."""
    site = tmp_path_factory.mktemp("site")
    (site / "sample_evaluators.py").write_text(EVALUATORS)
    write_distribution(
        site, "sample-evaluators", "1.0", {"spanlink": {"sample_evaluators": "sample_evaluators"}}
    )
    return site


@pytest.fixture
def child_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``pytester`` whose subprocess sessions run in ``child_env()``: our environment without
    trace context or spanlink settings."""
    for key, value in child_env().items():
        monkeypatch.setenv(key, value)
    return pytester


@pytest.fixture
def reporting(receiver: Any, project: Any) -> dict[str, str]:
    """Environment and options of a child session reporting to this test's project."""
    return {"url": receiver.url, "key": project.api_key}
