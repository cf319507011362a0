"""Where the client connects: explicit arguments, then ``SPANLINK_*`` environment variables.

``SPANLINK_ENDPOINT`` is the receiver's base URL, the same one the exporter uses
(``http://localhost:4318``); the WebSocket URL is derived from it: ``http`` becomes ``ws``,
``https`` becomes ``wss`` and the path ``/ws/endpoints`` is appended. A ``ws://``/``wss://``
URL is used as given.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

from spanlink.endpoint import _env
from spanlink.endpoint._errors import ConfigurationError

__all__ = [
    "API_KEY_ENV",
    "ENDPOINT_ENV",
    "ENVIRONMENT_ENV",
    "WEBSOCKET_PATH",
    "resolve_api_key",
    "resolve_environment",
    "websocket_url",
]

ENDPOINT_ENV: Final = _env.SPANLINK_ENDPOINT
API_KEY_ENV: Final = _env.SPANLINK_API_KEY
ENVIRONMENT_ENV: Final = _env.SPANLINK_ENVIRONMENT
#: The receiver's WebSocket route for endpoint clients.
WEBSOCKET_PATH: Final = "/ws/endpoints"

_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def websocket_url(url: str | None = None) -> str:
    """The WebSocket URL to connect to, from ``url`` or ``SPANLINK_ENDPOINT``.

    Raises :class:`ConfigurationError` when neither is set or the URL is not usable.
    """
    raw = _env.env_setting(url, ENDPOINT_ENV)
    if not raw:
        raise ConfigurationError(
            "no receiver URL: pass url= to connect() or set SPANLINK_ENDPOINT "
            "(e.g. http://localhost:4318)"
        )
    parts = urlsplit(raw)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ConfigurationError(
            f"receiver URL {raw!r} is not usable: expected http://, https://, ws:// or wss:// "
            "followed by a host, e.g. http://localhost:4318"
        )
    path = parts.path
    if parts.scheme.lower() in ("http", "https") and not path.rstrip("/").endswith(WEBSOCKET_PATH):
        # A base URL: the WebSocket route lives under it.
        path = path.rstrip("/") + WEBSOCKET_PATH
    elif not path:
        path = WEBSOCKET_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def resolve_api_key(api_key: str | None = None) -> str | None:
    """``api_key`` or ``SPANLINK_API_KEY`` (None when neither is set)."""
    return _env.env_setting(api_key, API_KEY_ENV)


def resolve_environment(environment: str | None = None) -> str | None:
    """``environment`` or ``SPANLINK_ENVIRONMENT`` (None when neither is set)."""
    return _env.env_setting(environment, ENVIRONMENT_ENV)
