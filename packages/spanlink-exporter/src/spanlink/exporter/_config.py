"""Exporter settings: explicit arguments first, then the standard OTLP environment variables.

Follows the OpenTelemetry exporter specification: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
used as the full URL, ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL to which ``/v1/traces``
is appended, timeouts are milliseconds, headers are ``key=value`` pairs separated by commas
with percent-encoded values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.util.re import parse_env_headers

from spanlink.exporter import _env

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_TIMEOUT", "Settings", "resolve"]

_logger = logging.getLogger("spanlink.exporter")

DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT = 10.0
TRACES_PATH = "/v1/traces"
_ENCODINGS = ("protobuf", "json")
_COMPRESSIONS = ("gzip", "none")


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one exporter."""

    url: str
    headers: dict[str, str]
    encoding: str
    compression: str
    timeout: float


def _traces_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def _check_url(url: str, source: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"spanlink exporter: endpoint {url!r} (from {source}) is not an http(s) URL; "
            "give a base URL such as 'http://localhost:4318'"
        )
    return url


def resolve(
    endpoint: str | None,
    api_key: str | None,
    headers: Mapping[str, str] | None,
    encoding: str,
    compression: str | None,
    timeout: float | None,
) -> Settings:
    """Settings from the arguments, falling back to the environment, then to the defaults.

    Raises ``ValueError`` naming the argument for a bad explicit value; a bad environment
    value is logged and the default used instead, so a typo in the environment never stops
    the application.
    """
    if endpoint is not None:
        url = _check_url(_traces_url(endpoint), "the endpoint argument")
    elif (value := _env.read(_env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) is not None:
        url = _check_url(value, _env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    elif (value := _env.read(_env.OTEL_EXPORTER_OTLP_ENDPOINT)) is not None:
        url = _check_url(_traces_url(value), _env.OTEL_EXPORTER_OTLP_ENDPOINT)
    elif (value := _env.read(_env.SPANLINK_ENDPOINT)) is not None:
        url = _check_url(_traces_url(value), _env.SPANLINK_ENDPOINT)
    else:
        url = DEFAULT_ENDPOINT + TRACES_PATH

    if encoding not in _ENCODINGS:
        raise ValueError(
            f"spanlink exporter: encoding must be 'protobuf' or 'json', not {encoding!r}"
        )

    if compression is None:
        env_compression = _env.read(
            _env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, _env.OTEL_EXPORTER_OTLP_COMPRESSION
        )
        compression = (env_compression or "gzip").lower()
        if compression not in _COMPRESSIONS:
            _logger.warning(
                "spanlink exporter: unsupported OTLP compression %r in the environment; using gzip",
                env_compression,
            )
            compression = "gzip"
    elif compression not in _COMPRESSIONS:
        raise ValueError(
            f"spanlink exporter: compression must be 'gzip' or 'none', not {compression!r}"
        )

    if timeout is None:
        timeout = DEFAULT_TIMEOUT
        env_timeout = _env.read(
            _env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, _env.OTEL_EXPORTER_OTLP_TIMEOUT
        )
        if env_timeout is not None:
            try:
                millis = float(env_timeout)
                if millis <= 0:
                    raise ValueError("not positive")
                timeout = millis / 1000.0  # the specification gives OTLP timeouts in ms
            except ValueError:
                _logger.warning(
                    "spanlink exporter: OTLP timeout %r in the environment is not a positive "
                    "number of milliseconds; using %.0f s",
                    env_timeout,
                    DEFAULT_TIMEOUT,
                )
    elif timeout <= 0:
        raise ValueError(
            f"spanlink exporter: timeout must be a positive number of seconds, not {timeout!r}"
        )

    merged: dict[str, str] = {}
    if headers is None:
        env_headers = _env.read(
            _env.OTEL_EXPORTER_OTLP_TRACES_HEADERS, _env.OTEL_EXPORTER_OTLP_HEADERS
        )
        if env_headers is not None:
            merged.update(parse_env_headers(env_headers, liberal=True))
    else:
        merged.update({str(k).lower(): str(v) for k, v in headers.items()})
    key = api_key if api_key is not None else _env.read(_env.SPANLINK_API_KEY)
    if key:
        merged["authorization"] = f"Bearer {key}"
    return Settings(
        url=url, headers=merged, encoding=encoding, compression=compression, timeout=timeout
    )
