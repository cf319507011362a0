"""Plugins are found through entry points of group ``spanlink``: builtin and third-party alike.

The third-party plugin is the throwaway package in ``sample_plugin/``: the test installs it
the way an installer lays a package out (the module plus a ``*.dist-info`` with its
metadata and ``entry_points.txt``, built from its ``pyproject.toml``) onto a temp
``sys.path`` entry, so ``importlib.metadata`` finds it like any installed distribution.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import enrich_spans, install_sample

from spanlink.tracer.plugins import call_each, load_plugins

SAMPLE = Path(__file__).parent / "sample_plugin"
GUIDE = Path(__file__).parents[2] / "plugins" / "README.md"


@pytest.fixture
def sample_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = install_sample(tmp_path, SAMPLE)
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates import caches
    yield
    sys.modules.pop(module, None)


def _llm_spans(make_span: Any) -> list[Any]:
    return [
        make_span(
            "chat fast",
            {
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 100,
            },
            duration_ms=1_000,
        ),
        make_span(
            "chat slow",
            {
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 100,
            },
            duration_ms=4_000,
        ),
    ]


def test_builtin_plugins_are_ordinary_entry_points() -> None:
    manager, infos = load_plugins(disabled=frozenset())
    by_name = {info.name: info for info in infos}
    assert by_name["cost"].distribution == "spanlink-plugin-cost"
    assert by_name["anomaly"].distribution == "spanlink-plugin-anomaly"
    assert by_name["cost"].version and by_name["anomaly"].version
    for name in ("cost", "anomaly"):
        assert by_name[name].hooks == ["spanlink_enrich_span", "spanlink_enrich_trace"]
        assert manager.get_plugin(name) is not None


def test_third_party_plugin_is_discovered_and_runs(sample_installed: None, make_span: Any) -> None:
    manager, infos = load_plugins()
    info = {i.name: i for i in infos}["throughput"]
    assert info.as_dict() == {
        "name": "throughput",
        "distribution": "spanlink-sample-plugin",
        "version": "0.1.0",
        "hooks": ["spanlink_enrich_span", "spanlink_enrich_trace"],
    }
    spans = _llm_spans(make_span)
    span_results, results = enrich_spans(manager, spans)
    assert span_results[spans[0].span_id]["throughput"] == {"tokens_per_second": 100.0}
    assert span_results[spans[1].span_id]["throughput"] == {"tokens_per_second": 25.0}
    assert span_results[spans[0].span_id]["cost"]["status"] == "ok"  # builtins run alongside
    assert results["throughput"] == {
        "slowest_span_id": spans[1].span_id,
        "min_tokens_per_second": 25.0,
    }


def test_disable_plugins_turns_it_off(
    sample_installed: None, monkeypatch: pytest.MonkeyPatch, make_span: Any
) -> None:
    monkeypatch.setenv("SPANLINK_DISABLE_PLUGINS", "throughput, anomaly")
    manager, infos = load_plugins()
    names = {info.name for info in infos}
    assert "throughput" not in names and "anomaly" not in names
    assert "cost" in names
    assert manager.get_plugin("throughput") is None
    results, errors = call_each(
        manager, "spanlink_enrich_span", span=_llm_spans(make_span)[0], context={}
    )
    assert not errors
    assert "throughput" not in results and "anomaly" not in results
    assert "cost" in results


def test_the_guide_shows_the_tested_plugin() -> None:
    guide = GUIDE.read_text()
    (module_dir,) = (SAMPLE / "src").iterdir()
    code = (module_dir / "__init__.py").read_text()
    body = code.split('"""', 2)[2].strip()  # without the module docstring
    assert body in guide, "plugins/README.md must show sample_plugin's code verbatim"
    entry_points = (
        (SAMPLE / "pyproject.toml").read_text().split("[project.entry-points.spanlink]")[1]
    )
    assert entry_points.strip().splitlines()[0] in guide
