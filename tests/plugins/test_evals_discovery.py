"""Evaluators are found through entry points: the builtin ``evals`` plugin and a custom
evaluator shipped as its own installed package (``sample_evaluator/``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import install_sample

from spanlink.plugins.evals import builtin_evaluators
from spanlink.tracer.evaluation import (
    EvaluatorConfigError,
    evaluate_case,
    find_evaluators,
    validate_configs,
)
from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig
from spanlink.tracer.plugins import load_plugins

from .test_discovery import GUIDE

SAMPLE = Path(__file__).parent / "sample_evaluator"
BUILTIN = {
    "equals",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "json_path",
    "numeric",
    "length",
    "llm_judge",
    "tool_called",
    "tool_not_called",
    "tool_order",
    "max_llm_calls",
    "max_tool_calls",
    "max_cost_usd",
    "max_latency_ms",
    "max_tokens",
    "no_error_spans",
    "no_anomaly",
    "span_exists",
}


@pytest.fixture
def evaluator_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = install_sample(tmp_path, SAMPLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(module, None)


def test_builtin_evaluators_come_through_the_evals_entry_point() -> None:
    manager, infos = load_plugins(disabled=frozenset())
    info = {i.name: i for i in infos}["evals"]
    assert info.distribution == "spanlink-plugin-evals"
    assert info.hooks == ["spanlink_evaluators"]
    found = find_evaluators(manager)
    assert found.keys() >= BUILTIN
    assert all(isinstance(found[name], Evaluator) for name in BUILTIN)
    assert {e.name for e in builtin_evaluators()} == BUILTIN


def test_disabling_the_plugin_removes_its_evaluators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_DISABLE_PLUGINS", "evals")
    manager, _ = load_plugins()
    assert not BUILTIN & find_evaluators(manager).keys()


def test_custom_evaluator_package_is_found_and_used(evaluator_installed: None) -> None:
    manager, infos = load_plugins()
    assert {i.name: i for i in infos}["brevity"].distribution == "spanlink-sample-evaluator"
    evaluators = find_evaluators(manager)
    assert "brevity" in evaluators and "equals" in evaluators  # builtins alongside
    configs = [
        EvaluatorConfig("brevity", {"max_words": 3}),
        EvaluatorConfig("contains", {"value": "sun"}),
    ]
    validate_configs(configs, evaluators)
    with pytest.raises(EvaluatorConfigError, match="max_words"):
        validate_configs([EvaluatorConfig("brevity", {"max_words": 0})], evaluators)
    short = evaluate_case(configs, Case("c"), "sunny today", None, evaluators=evaluators)
    assert short.status == "passed"
    brevity = short.scores[0]
    assert (brevity.name, brevity.evaluator, brevity.evaluator_version) == (
        "brevity",
        "brevity",
        "1.0",
    )
    long = evaluate_case(configs, Case("c"), "sunny all day long here", None, evaluators=evaluators)
    assert long.status == "failed"
    assert long.scores[0].value == pytest.approx(3 / 5)


def test_the_guide_shows_the_tested_evaluator() -> None:
    guide = GUIDE.read_text()
    (module_dir,) = (SAMPLE / "src").iterdir()
    body = (module_dir / "__init__.py").read_text().split('"""', 2)[2].strip()
    assert "## Writing an evaluator" in guide
    assert body in guide, "plugins/README.md must show sample_evaluator's code verbatim"


def test_exported_members_and_the_documented_evaluators() -> None:
    import spanlink.plugins.evals as evals
    import spanlink.tracer.evaluation as evaluation

    for module in (evals, evaluation):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    readme = (Path(evals.__file__).parents[4] / "README.md").read_text()
    for name in BUILTIN:
        assert f"`{name}`" in readme, f"README of spanlink-plugin-evals does not document {name}"
