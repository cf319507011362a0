"""The linking plugin as installed (entry point), strategy choice, and the rate limiter."""

from __future__ import annotations

import pytest

from spanlink.receiver import hookspecs
from spanlink.receiver.testruns.linking import HybridStrategy, ReceiverLinkingStrategy
from spanlink.receiver.testruns.ratelimit import TokenBucket
from spanlink.receiver.testruns.service import load_strategy
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


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1  # one token back
    assert bucket.take() and not bucket.take()
    now[0] += 100  # never more than the burst saved up
    assert sum(bucket.take() for _ in range(10)) == 3
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
