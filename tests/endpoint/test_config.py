"""Where connect() goes: explicit arguments, then SPANLINK_* variables; clear errors."""

from __future__ import annotations

import pytest

from spanlink.endpoint import ConfigurationError, EndpointClient, Registry, connect, websocket_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:4318", "ws://localhost:4318/ws/endpoints"),
        ("http://localhost:4318/", "ws://localhost:4318/ws/endpoints"),
        ("https://spanlink.example.com", "wss://spanlink.example.com/ws/endpoints"),
        ("https://example.com/spanlink/", "wss://example.com/spanlink/ws/endpoints"),
        ("HTTP://h:1/ws/endpoints", "ws://h:1/ws/endpoints"),
        ("ws://h:1", "ws://h:1/ws/endpoints"),
        ("wss://h/custom/path?x=1", "wss://h/custom/path?x=1"),
    ],
)
def test_websocket_url_is_derived_from_the_base_url(given: str, expected: str) -> None:
    assert websocket_url(given) == expected


@pytest.mark.parametrize("bad", ["localhost:4318", "ftp://h", "http://", "://x"])
def test_unusable_urls_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="expected http://, https://, ws:// or wss://"):
        websocket_url(bad)


def test_no_url_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLINK_ENDPOINT", raising=False)
    with pytest.raises(ConfigurationError, match="pass url= to connect\\(\\) or set SPANLINK"):
        connect(registry=Registry())


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_ENDPOINT", "http://env-host:1")
    monkeypatch.setenv("SPANLINK_API_KEY", "env-key")
    monkeypatch.setenv("SPANLINK_ENVIRONMENT", "env")
    from_env = connect(registry=Registry())
    assert (from_env.url, from_env.api_key, from_env.environment) == (
        "ws://env-host:1/ws/endpoints",
        "env-key",
        "env",
    )
    explicit = connect("https://arg-host", api_key="arg-key", environment="arg")
    assert (explicit.url, explicit.api_key, explicit.environment) == (
        "wss://arg-host/ws/endpoints",
        "arg-key",
        "arg",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"default_timeout_s": 0}, "default_timeout_s must be a positive number"),
        ({"heartbeat_interval_s": -1}, "heartbeat_interval_s must be a positive number"),
        ({"max_message_bytes": 10}, "max_message_bytes must be at least 1024"),
        ({"max_message_bytes": 4096, "max_output_bytes": 4000}, "max_output_bytes must be below"),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EndpointClient("ws://h", registry=Registry(), **options)  # type: ignore[arg-type]
