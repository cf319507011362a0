"""The linking plugin as installed (entry point), and the strategy choice."""

from __future__ import annotations

import pytest

from spanlink.receiver import hookspecs
from spanlink.receiver.linking import HybridStrategy, ReceiverLinkingStrategy, load_strategy
from spanlink.tracer.plugins import get_plugin_manager, load_plugins


def test_builtin_strategies_come_from_the_spanlink_entry_point() -> None:
    manager = get_plugin_manager()
    manager.add_hookspecs(hookspecs)  # as the receiver does
    manager, infos = load_plugins(manager)
    [info] = [info for info in infos if info.name == "linking"]
    assert info.distribution == "spanlink-receiver"
    assert info.hooks == ["spanlink_linking_strategy"]
    hybrid = manager.hook.spanlink_linking_strategy(config={"name": "hybrid"})
    assert isinstance(hybrid, HybridStrategy)
    assert isinstance(hybrid, ReceiverLinkingStrategy)
    assert manager.hook.spanlink_linking_strategy(config={"name": "trace_id"}).name == "trace_id"
    assert manager.hook.spanlink_linking_strategy(config={"name": "elsewhere"}) is None


def test_unknown_strategy_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no installed plugin provides the linking strategy"):
        load_strategy("fastest")


def test_disabled_linking_plugin_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_DISABLE_PLUGINS", "linking")
    with pytest.raises(ValueError, match="SPANLINK_LINKING_STRATEGY"):
        load_strategy("hybrid")
