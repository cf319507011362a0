"""Command-line and ini options, resolved into one ``Settings`` (options > ini > environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from spanlink.pytest import _env

__all__ = ["DEFAULT_FLUSH_TIMEOUT", "Settings", "add_options", "read_settings"]

DEFAULT_FLUSH_TIMEOUT = 5.0
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the plugin was asked to do for this session."""

    enabled: bool
    url: str | None
    api_key: str | None
    run_name: str | None
    environment: str | None
    local: bool
    flush_timeout: float
    baseline: str | None
    fail_on_regression: bool


def add_options(parser: pytest.Parser) -> None:
    """Register ``--spanlink*`` options and the ``spanlink*`` ini keys."""
    group = parser.getgroup("spanlink", "spanlink: report the session as a test run")
    group.addoption(
        "--spanlink",
        action="store_true",
        default=None,
        help="report this session to spanlink as a test run (ini: spanlink = true)",
    )
    group.addoption(
        "--spanlink-url",
        default=None,
        metavar="URL",
        help=f"receiver base URL (default: ini spanlink_url, ${_env.SPANLINK_ENDPOINT})",
    )
    group.addoption(
        "--spanlink-api-key",
        default=None,
        metavar="KEY",
        help=f"the project's API key (default: ${_env.SPANLINK_API_KEY})",
    )
    group.addoption("--spanlink-run-name", default=None, metavar="NAME", help="name of the run")
    group.addoption(
        "--spanlink-environment",
        default=None,
        metavar="NAME",
        help=f"environment of the run (default: ini spanlink_environment, "
        f"${_env.SPANLINK_ENVIRONMENT})",
    )
    group.addoption(
        "--spanlink-local",
        action="store_true",
        default=False,
        help="start an embedded receiver for the session (needs spanlink-pytest[local])",
    )
    group.addoption(
        "--spanlink-flush-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"the most the session's end waits for the receiver (default "
        f"{DEFAULT_FLUSH_TIMEOUT:g})",
    )
    group.addoption(
        "--spanlink-baseline",
        default=None,
        metavar="RUN|auto",
        help="compare the run with this run id (or 'auto': the receiver's choice)",
    )
    group.addoption(
        "--spanlink-fail-on-regression",
        action="store_true",
        default=False,
        help="fail the session when the comparison with the baseline finds a regression",
    )
    parser.addini("spanlink", "report sessions to spanlink (as --spanlink)", type="bool")
    parser.addini("spanlink_url", "receiver base URL (as --spanlink-url)")
    parser.addini("spanlink_environment", "environment of the run (as --spanlink-environment)")


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def read_settings(config: pytest.Config) -> Settings:
    """The session's settings. Raises ``pytest.UsageError`` for a bad value."""
    option = config.option
    enabled = option.spanlink
    if enabled is None:
        enabled = bool(config.getini("spanlink")) or (
            os.environ.get(_env.SPANLINK_PYTEST, "").strip().lower() in _TRUE
        )
    enabled = bool(enabled or option.spanlink_local)
    flush_timeout = option.spanlink_flush_timeout
    if flush_timeout is None:
        flush_timeout = DEFAULT_FLUSH_TIMEOUT
    elif flush_timeout < 0:
        raise pytest.UsageError("--spanlink-flush-timeout must be 0 or more seconds")
    url = (
        _text(option.spanlink_url)
        or _text(config.getini("spanlink_url"))
        or _text(os.environ.get(_env.SPANLINK_ENDPOINT))
    )
    if url is not None and not url.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"--spanlink-url {url!r} is not an http(s) URL; give e.g. http://127.0.0.1:4318"
        )
    return Settings(
        enabled=enabled,
        url=url.rstrip("/") if url else None,
        api_key=_text(option.spanlink_api_key) or _text(os.environ.get(_env.SPANLINK_API_KEY)),
        run_name=_text(option.spanlink_run_name),
        environment=_text(option.spanlink_environment)
        or _text(config.getini("spanlink_environment"))
        or _text(os.environ.get(_env.SPANLINK_ENVIRONMENT)),
        local=bool(option.spanlink_local),
        flush_timeout=float(flush_timeout),
        baseline=_text(option.spanlink_baseline),
        fail_on_regression=bool(option.spanlink_fail_on_regression),
    )
