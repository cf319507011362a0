"""Settings: explicit arguments win, then the standard OTLP environment variables."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from spanlink.exporter import SpanlinkExporter

_ENV = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "SPANLINK_ENDPOINT",
    "SPANLINK_API_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    exporter = SpanlinkExporter()
    assert exporter.url == "http://localhost:4318/v1/traces"
    assert (exporter.encoding, exporter.compression, exporter.timeout) == ("protobuf", "gzip", 10.0)
    exporter.shutdown()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://a:1/custom/path"},
            "http://a:1/custom/path",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2/"}, "http://b:2/v1/traces"),
        ({"SPANLINK_ENDPOINT": "https://c"}, "https://c/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://a/x",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b",
            },
            "http://a/x",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b", "SPANLINK_ENDPOINT": "http://c"},
            "http://b/v1/traces",
        ),
    ],
)
def test_endpoint_precedence(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert SpanlinkExporter().url == expected
    assert SpanlinkExporter("http://explicit:9").url == "http://explicit:9/v1/traces"
    assert SpanlinkExporter("http://explicit:9/v1/traces").url == "http://explicit:9/v1/traces"


def test_env_headers_compression_timeout_and_key(
    monkeypatch: pytest.MonkeyPatch, receiver: Any, spans: list[Any]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=search%20team,x-other=1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")  # milliseconds, per the spec
    monkeypatch.setenv("SPANLINK_API_KEY", "env-key")
    exporter = SpanlinkExporter()
    try:
        assert exporter.timeout == 2.5
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    (request,) = receiver.requests
    assert request.headers["x-team"] == "search team"
    assert request.headers["authorization"] == "Bearer env-key"
    assert "content-encoding" not in request.headers
    # Explicit arguments win over every variable.
    explicit = SpanlinkExporter(compression="gzip", timeout=1, headers={"a": "b"}, api_key="k")
    assert (explicit.compression, explicit.timeout) == ("gzip", 1)
    explicit.shutdown()


def test_bad_environment_values_fall_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")
    exporter = SpanlinkExporter()
    assert (exporter.compression, exporter.timeout) == ("gzip", 10.0)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "brotli" in messages and "soon" in messages


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint": "localhost:4318"}, "not an http"),
        ({"encoding": "xml"}, "encoding must be"),
        ({"compression": "zstd"}, "compression must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"max_retries": -1}, "max_retries"),
        ({"spool_dir": "/tmp/x-spanlink-test", "spool_max_bytes": 0}, "spool_max_bytes"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SpanlinkExporter(**kwargs)
