"""spanlink-endpoint: let a test run invoke this application's functions.

Decorate the functions a test platform may call with ``@endpoint``, then connect::

    from spanlink.endpoint import connect, endpoint

    @endpoint
    def answer(question: str, max_tokens: int = 256) -> str: ...

    client = connect().start()   # SPANLINK_ENDPOINT / SPANLINK_API_KEY; or await connect().run()

Each invocation runs inside the test context it was sent with, under a root span named
after the function; its spans are flushed before the result is reported, so the receiver
links every one of them to the test result. The wire protocol is
:mod:`spanlink.protocol` (distribution ``spanlink-protocol``).
"""

from __future__ import annotations

from spanlink.endpoint._arguments import InvalidArguments
from spanlink.endpoint._client import ClientStats, EndpointClient, connect
from spanlink.endpoint._config import websocket_url
from spanlink.endpoint._errors import (
    AuthenticationError,
    ConfigurationError,
    EndpointError,
    RegistrationError,
)
from spanlink.endpoint._registry import Endpoint, Registry, default_registry, endpoint

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ClientStats",
    "ConfigurationError",
    "Endpoint",
    "EndpointClient",
    "EndpointError",
    "InvalidArguments",
    "RegistrationError",
    "Registry",
    "connect",
    "default_registry",
    "endpoint",
    "websocket_url",
]
