"""Plugin manager: entry-point discovery, SPANLINK_DISABLE_PLUGINS, isolation of failures."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

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
        dist_info = tmp_path / f"{name}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (dist_info / "entry_points.txt").write_text(f"[spanlink]\n{name} = {name}\n")
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
    for name in (
        "spanlink_enrich_span",
        "spanlink_enrich_trace",
        "spanlink_linking_strategy",
        "spanlink_span_filter",
        "spanlink_redact",
    ):
        spec = getattr(manager.hook, name).spec
        assert spec is not None and len((spec.function.__doc__ or "").strip()) > 80, name
