"""The environment variables spanlink-tracer reads: one constant each, and one reader.

Arguments always win over the environment. A variable that is unset, empty or only blanks
counts as unset, and values are read without surrounding blanks. Every spanlink SDK uses
the same names (``SPANLINK_ENDPOINT`` and ``SPANLINK_API_KEY`` are also the exporter's and
the endpoint client's).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from spanlink.tracer.support import env_setting, env_value

__all__ = [
    "OTEL_SERVICE_NAME",
    "SPANLINK_API_KEY",
    "SPANLINK_CAPTURE_CONTENT",
    "SPANLINK_DISABLE_PLUGINS",
    "SPANLINK_ENDPOINT",
    "SPANLINK_ENVIRONMENT",
    "SPANLINK_EXPORTER",
    "SPANLINK_PROJECT",
    "env_setting",
    "env_value",
    "fast_reader",
]

SPANLINK_ENDPOINT: Final = "SPANLINK_ENDPOINT"
"""The receiver's base URL, e.g. ``http://localhost:4318`` (read by the exporter, after the
standard ``OTEL_EXPORTER_OTLP_*`` endpoint variables)."""

SPANLINK_API_KEY: Final = "SPANLINK_API_KEY"
"""The project's API key, sent as ``Authorization: Bearer`` (read by the exporter)."""

SPANLINK_PROJECT: Final = "SPANLINK_PROJECT"
"""The project name ``configure()`` records as ``spanlink.project``."""

SPANLINK_ENVIRONMENT: Final = "SPANLINK_ENVIRONMENT"
"""``deployment.environment.name`` set by ``configure()`` (e.g. ``staging``)."""

SPANLINK_EXPORTER: Final = "SPANLINK_EXPORTER"
"""The name of the ``spanlink_exporter`` entry point ``configure()`` uses, needed when
several exporters are installed (``spanlink`` is ``spanlink-exporter``'s)."""

SPANLINK_CAPTURE_CONTENT: Final = "SPANLINK_CAPTURE_CONTENT"
"""``false`` (or ``0``, ``no``, ``off``) stops recording inputs and outputs; read per call,
``configure_content(enabled=...)`` wins."""

SPANLINK_DISABLE_PLUGINS: Final = "SPANLINK_DISABLE_PLUGINS"
"""Comma-separated entry point names of plugins not to load."""

OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
"""The standard OpenTelemetry service name, used by ``configure()`` for ``service.name``."""


def fast_reader(name: str) -> Callable[[], str | None]:
    """A call-time :func:`env_value` of one variable, for hot paths (same result, less work).

    ``os.environ.get`` of a missing variable raises and catches a KeyError inside; a reader
    that runs on every traced call reads CPython's backing dict of ``os.environ`` directly
    where it has one (it is what ``os.environ`` itself reads and writes).
    """
    environ = os.environ
    data = getattr(environ, "_data", None)
    encodekey = getattr(environ, "encodekey", None)
    decodevalue = getattr(environ, "decodevalue", None)
    if not isinstance(data, dict) or encodekey is None or decodevalue is None:
        return lambda: env_value(name)
    key = encodekey(name)

    def fast_read() -> str | None:
        if os.environ is not environ:  # replaced wholesale: stop taking the shortcut
            return env_value(name)
        raw = data.get(key)
        return None if raw is None else (str(decodevalue(raw)).strip() or None)

    return fast_read
