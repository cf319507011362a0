"""Plugin manager: entry-point discovery, SPANLINK_DISABLE_PLUGINS, isolation of failures."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import write_distribution

from spanlink.tracer import hookspecs, plugins
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import (
    PluginError,
    call_each,
    disabled_plugins,
    get_plugin_manager,
    hookimpl,
    load_plugins,
)

SPAN = SpanRecord(
    trace_id="a" * 32, span_id="b" * 16, name="s", start_time_unix_nano=0, end_time_unix_nano=1
)


@pytest.fixture
def installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two plugin distributions on sys.path with real dist-info entry points (group spanlink)."""
    for name, body in {
        "good_plugin": """
            from spanlink.tracer.plugins import hookimpl

            @hookimpl
            def spanlink_enrich_span(span):
                return {"name_length": len(span.name)}
        """,
        "broken_plugin": "raise ImportError('missing optional dependency foo')\n",
    }.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        write_distribution(tmp_path, name, "1.0", {"spanlink": {name: name}})
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("good_plugin", "broken_plugin"):
        sys.modules.pop(name, None)


def test_entry_points_are_discovered_and_broken_ones_skipped(
    installed_plugins: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager, infos = load_plugins(disabled=frozenset())
    names = {info.name for info in infos}
    assert "good_plugin" in names and "broken_plugin" not in names
    good = next(info for info in infos if info.name == "good_plugin")
    assert good.version == "1.0" and good.hooks == ["spanlink_enrich_span"]
    assert "broken_plugin" in caplog.text and "missing optional dependency foo" in caplog.text
    results, errors = call_each(manager, "spanlink_enrich_span", span=SPAN, context={})
    assert results["good_plugin"] == {"name_length": 1}
    assert not errors


def test_disable_plugins_env(installed_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_DISABLE_PLUGINS", " good_plugin , other")
    assert disabled_plugins() == {"good_plugin", "other"}
    manager, infos = load_plugins()
    assert "good_plugin" not in {info.name for info in infos}
    assert manager.get_plugin("good_plugin") is None


def test_call_each_isolates_a_raising_plugin() -> None:
    manager = get_plugin_manager()

    class Fine:
        @hookimpl
        def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, int]:
            return {"ok": 1}

    class Raises:
        @hookimpl
        def spanlink_enrich_span(self, span: SpanRecord, context: dict[str, object]) -> None:
            raise ZeroDivisionError("bad math")

    class Silent:
        @hookimpl
        def spanlink_enrich_span(self, span: SpanRecord) -> None:
            return None

    manager.register(Fine(), name="fine")
    manager.register(Raises(), name="raises")
    manager.register(Silent(), name="silent")
    results, errors = call_each(manager, "spanlink_enrich_span", span=SPAN, context={})
    assert results == {"fine": {"ok": 1}}
    assert set(errors) == {"raises"}
    assert isinstance(errors["raises"], PluginError)
    assert isinstance(errors["raises"].__cause__, ZeroDivisionError)
    assert "raises" in str(errors["raises"]) and "bad math" in str(errors["raises"])


def test_hookspecs_are_documented() -> None:
    manager = get_plugin_manager()
    names = [name for name in hookspecs.__all__ if name.startswith("spanlink_")]
    assert set(names) == {
        "spanlink_enrich_span",
        "spanlink_enrich_trace",
        "spanlink_evaluators",
        "spanlink_span_filter",
        "spanlink_redact",
    }
    for name in names:
        spec = getattr(manager.hook, name).spec
        assert spec is not None and spec.function is getattr(hookspecs, name), name
        doc = spec.function.__doc__ or ""
        assert len(doc.strip()) > 80, name
        # Every parameter has its ``:param:`` line, as in pytest's hookspec.py.
        for parameter in spec.argnames:
            assert f":param {parameter}:" in doc, (name, parameter)


def test_the_linking_strategy_is_not_a_tracer_hook() -> None:
    assert not hasattr(get_plugin_manager().hook, "spanlink_linking_strategy")
    assert not hasattr(plugins, "LinkingStrategy")


def test_call_each_runs_new_style_wrappers_around_each_implementation() -> None:
    manager = get_plugin_manager()
    seen: list[str] = []

    class Plain:
        @hookimpl
        def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, int]:
            seen.append("plain")
            return {"n": 1}

    class Raises:
        @hookimpl
        def spanlink_enrich_span(self, span: SpanRecord) -> None:
            raise ZeroDivisionError("bad math")

    class Wrapper:
        @hookimpl(wrapper=True)
        def spanlink_enrich_span(self, span: SpanRecord) -> Iterator[None]:
            seen.append("before")
            try:
                result = yield
            except ZeroDivisionError:
                seen.append("saw error")
                raise
            seen.append("after")
            return [{**item, "wrapped": True} for item in result]

    manager.register(Plain(), name="plain")
    manager.register(Raises(), name="raises")
    manager.register(Wrapper(), name="wrapper")
    results, errors = call_each(manager, "spanlink_enrich_span", span=SPAN, context={})
    assert results == {"plain": {"n": 1, "wrapped": True}}  # the wrapper is no result
    assert set(errors) == {"raises"}
    assert isinstance(errors["raises"].__cause__, ZeroDivisionError)
    assert seen == ["before", "saw error", "before", "plain", "after"]


def test_call_each_runs_old_style_hookwrappers() -> None:
    manager = get_plugin_manager()
    outcomes: list[object] = []

    class Filter:
        @hookimpl
        def spanlink_span_filter(self, span: SpanRecord) -> bool:
            return False

    class Watcher:
        @hookimpl(hookwrapper=True)
        def spanlink_span_filter(self, span: SpanRecord) -> Iterator[None]:
            outcome = yield
            outcomes.append(outcome.get_result())
            outcome.force_result([True])

    manager.register(Filter(), name="filter")
    manager.register(Watcher(), name="watcher")
    results, errors = call_each(manager, "spanlink_span_filter", span=SPAN)
    assert results == {"filter": True} and not errors
    assert outcomes == [[False]]


def test_call_each_hands_each_result_over_before_the_next_call() -> None:
    manager = get_plugin_manager()

    class First:
        @hookimpl
        def spanlink_redact(self, attributes: dict[str, object]) -> dict[str, object]:
            return {"secret": "[redacted]"}

    class Second:
        @hookimpl
        def spanlink_redact(self, attributes: dict[str, object]) -> dict[str, object]:
            return {"saw": attributes["secret"]}

    manager.register(Second(), name="second")
    manager.register(First(), name="first")  # pluggy calls the last registered first
    attributes: dict[str, object] = {"secret": "hunter2"}
    order: list[str] = []

    def merge(plugin: str, value: dict[str, object]) -> None:
        order.append(plugin)
        attributes.update(value)

    results, errors = call_each(manager, "spanlink_redact", merge, attributes=attributes)
    assert order == ["first", "second"] and not errors
    assert attributes == {"secret": "[redacted]", "saw": "[redacted]"}
    assert results["second"] == {"saw": "[redacted]"}
