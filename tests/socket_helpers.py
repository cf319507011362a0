"""A raw endpoint peer for the test-run tests: the protocol spoken by hand over the receiver's
``WS /ws/endpoints`` (imported as ``socket_helpers``)."""

from __future__ import annotations

from typing import Any

from websockets.sync.client import ClientConnection, connect

import spanlink.protocol as p


def ws_url(receiver: Any) -> str:
    """The endpoint WebSocket URL of a running receiver."""
    return str(receiver.url).replace("http://", "ws://") + "/ws/endpoints"


def open_socket(receiver: Any, key: str | None) -> ClientConnection:
    """A WebSocket to the receiver, with ``key`` as the bearer token (none when None)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(ws_url(receiver), additional_headers=headers, open_timeout=5)


def recv(ws: ClientConnection, skip_pings: bool = True) -> p.Message:
    """The next message (within 10 s); pings are answered and skipped unless ``skip_pings``
    is False."""
    while True:
        message = p.decode(ws.recv(timeout=10))
        if skip_pings and isinstance(message, p.Ping):
            ws.send(p.encode(p.Pong(id=message.id)))
            continue
        return message


def register(
    ws: ClientConnection,
    *names: str,
    environment: str | None = None,
    streaming: bool = False,
) -> p.Registered:
    """Register functions ``names`` (default ``f``) and return the receiver's answer."""
    specs = tuple(p.FunctionSpec(name=name, streaming=streaming) for name in names or ("f",))
    ws.send(p.encode(p.Register(functions=specs, sdk_version="0", environment=environment)))
    reply = recv(ws)
    assert isinstance(reply, p.Registered), reply
    return reply
