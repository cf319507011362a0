"""The environment variables spanlink-endpoint reads: one constant each.

Arguments always win over the environment; a variable that is unset, empty or only blanks
counts as unset (the one rule of :func:`spanlink.tracer.support.env_value`). The names are
the ones every spanlink SDK uses.
"""

from __future__ import annotations

from typing import Final

from spanlink.tracer.support import env_setting, env_value

__all__ = [
    "SPANLINK_API_KEY",
    "SPANLINK_ENDPOINT",
    "SPANLINK_ENVIRONMENT",
    "env_setting",
    "env_value",
]

SPANLINK_ENDPOINT: Final = "SPANLINK_ENDPOINT"
"""The receiver's base URL, e.g. ``http://localhost:4318`` (the exporter's too); the
WebSocket URL ``ws://localhost:4318/ws/endpoints`` is derived from it."""

SPANLINK_API_KEY: Final = "SPANLINK_API_KEY"
"""The project's API key, sent as ``Authorization: Bearer`` on the WebSocket handshake."""

SPANLINK_ENVIRONMENT: Final = "SPANLINK_ENVIRONMENT"
"""The environment announced in ``register`` (e.g. ``staging``): the receiver keeps one
function registry per environment."""
