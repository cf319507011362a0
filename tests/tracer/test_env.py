"""One rule for environment variables in every package: blank is unset, arguments win."""

from __future__ import annotations

import pytest

from spanlink.endpoint import _env as endpoint_env
from spanlink.endpoint._config import resolve_api_key, resolve_environment, websocket_url
from spanlink.tracer import _env as tracer_env
from spanlink.tracer.support import env_setting, env_value


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("   ", None), (" x ", "x"), ("x", "x")])
def test_blank_values_count_as_unset(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str | None
) -> None:
    monkeypatch.setenv("SPANLINK_PROJECT", raw)
    assert env_value("SPANLINK_PROJECT") == expected
    assert tracer_env.fast_reader("SPANLINK_PROJECT")() == expected
    assert env_setting("argument", "SPANLINK_PROJECT") == "argument"
    assert env_setting(None, "SPANLINK_PROJECT") == expected


def test_unset_and_a_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLINK_PROJECT", raising=False)
    assert env_value("SPANLINK_PROJECT") is None
    assert tracer_env.fast_reader("SPANLINK_PROJECT")() is None
    assert env_value("A", {"A": " 1 "}) == "1"


def test_the_sdks_share_the_variable_names() -> None:
    for name in ("SPANLINK_ENDPOINT", "SPANLINK_API_KEY", "SPANLINK_ENVIRONMENT"):
        assert getattr(tracer_env, name) == getattr(endpoint_env, name) == name


def test_endpoint_settings_follow_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_API_KEY", "  ")
    monkeypatch.setenv("SPANLINK_ENVIRONMENT", " staging ")
    monkeypatch.setenv("SPANLINK_ENDPOINT", " http://127.0.0.1:18200 ")
    assert resolve_api_key() is None and resolve_api_key("k") == "k"
    assert resolve_environment() == "staging" and resolve_environment("prod") == "prod"
    assert websocket_url() == "ws://127.0.0.1:18200/ws/endpoints"
    assert websocket_url("https://h") == "wss://h/ws/endpoints"
