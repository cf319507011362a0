"""``WS /ws/endpoints`` under hostile input: a huge ``register``, a rate-limit bypass.

A big message is decoded off the event loop: while one is being decoded, health checks and
ingest are answered. The rate limit is decided on the decoded message: only the answer to
an invocation in flight passes when the limit is reached.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id
from websockets.sync.client import ClientConnection, connect

import spanlink.protocol as p
from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import websocket as websocket_module


def _open(receiver: RunningReceiver, key: str) -> ClientConnection:
    url = receiver.url.replace("http://", "ws://") + "/ws/endpoints"
    return connect(url, additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=5)


def _recv(ws: ClientConnection, timeout: float = 15) -> p.Message:
    while True:
        message = p.decode(ws.recv(timeout=timeout), max_bytes=8 * 1024 * 1024)
        if isinstance(message, p.Ping):
            ws.send(p.encode(p.Pong(id=message.id)))
            continue
        return message


def _huge_register(count: int = 30_000) -> str:
    """A ``register`` like the one that froze the receiver: 30,000 functions, ~475 KB."""
    functions = [{"name": f"tool_{index:05d}"} for index in range(count)]
    return json.dumps({"type": "register", "v": 1, "functions": functions, "sdk_version": "1"})


def test_register_with_30000_functions_gets_a_clear_error_and_the_connection_stays(
    receiver: RunningReceiver, project: Any
) -> None:
    text = _huge_register()
    assert 400_000 < len(text) < p.DEFAULT_MAX_BYTES
    with _open(receiver, project.api_key) as ws:
        ws.send(text)
        reply = _recv(ws)
        assert isinstance(reply, p.Error) and reply.code == "invalid_message", reply
        assert reply.message_type == "register"
        assert "30000 items, more than the limit of 1000" in reply.message
        ws.send(p.encode(p.Register(functions=(p.FunctionSpec(name="f"),), sdk_version="1")))
        registered = _recv(ws)
        assert isinstance(registered, p.Registered) and registered.functions == ("f",)


@pytest.fixture
def held_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, ...]]:
    """Large messages' decoding waits for ``release``; ``entered`` is set once it started.

    The real decoder runs afterwards. Were decoding done on the event loop, holding it
    would hold every request of the receiver.
    """
    entered, release = threading.Event(), threading.Event()
    real = websocket_module.decode

    def held(data: str | bytes, max_bytes: int) -> p.Message:
        if len(data) > websocket_module.OFFLOAD_CHARS:
            entered.set()
            release.wait(30)
        return real(data, max_bytes)

    monkeypatch.setattr(websocket_module, "decode", held)
    try:
        yield entered, release
    finally:
        release.set()


def test_health_and_ingest_are_answered_while_a_huge_register_is_decoded(
    receiver: RunningReceiver,
    project: Any,
    client: httpx.Client,
    held_decoding: tuple[threading.Event, ...],
) -> None:
    entered, release = held_decoding
    with _open(receiver, project.api_key) as ws:
        ws.send(_huge_register())
        assert entered.wait(10), "the register was never decoded"
        # The register is still being decoded: everything else goes on.
        with httpx.Client(base_url=receiver.url, timeout=10) as anonymous:
            assert anonymous.get("/healthz").status_code == 200
            assert anonymous.get("/readyz").status_code == 200
        tid = trace_id()
        stored = post_proto(client, make_request([make_span(tid, span_id(), name="during")]))
        assert stored.status_code == 200, stored.text
        assert client.get(f"/api/v1/traces/{tid.hex()}").status_code == 200
        with _open(receiver, project.api_key) as other:  # other endpoints still register
            other.send(p.encode(p.Register(functions=(p.FunctionSpec(name="g"),), sdk_version="1")))
            assert isinstance(_recv(other), p.Registered)
        release.set()
        reply = _recv(ws)
        assert isinstance(reply, p.Error) and "limit of 1000" in reply.message


def _flood(ws: ClientConnection, count: int) -> None:
    """Messages that all contain the text ``"result"`` and are no answer to anything."""
    for index in range(count):
        ws.send(p.encode(p.Ping(id="result")))
        if index % 1000 == 0:
            ws.send(p.encode(p.Result(invocation_id="result", status="success", output="result")))
            ws.send(p.encode(p.Chunk(invocation_id="result", index=0, data="result")))


def test_rate_limit_is_decided_on_the_message_type_not_its_text(
    database_url: str, project: Any, run_waiter: Any
) -> None:
    # One token, refilled once in 100 s: a first ping spends it, everything after is over.
    settings = Settings(database_url=database_url, endpoint_rate_limit_per_s=0.01)
    with start_in_thread(settings) as r, _open(r, project.api_key) as ws:
        ws.send(p.encode(p.Register(functions=(p.FunctionSpec(name="f"),), sdk_version="1")))
        assert isinstance(_recv(ws), p.Registered)
        ws.send(p.encode(p.Ping(id="within")))
        assert _recv(ws) == p.Pong(id="within")
        _flood(ws, 5000)
        headers = {"Authorization": f"Bearer {project.api_key}"}
        with httpx.Client(base_url=r.url, headers=headers, timeout=10) as http:
            created = http.post(
                "/api/v1/test-runs", json={"function": "f", "cases": [{"id": "a"}]}
            ).json()
            replies: list[p.Message] = []
            while True:  # the flood is read first (one connection, in order), then the invoke
                message = _recv(ws)
                if isinstance(message, p.Invoke):
                    break
                replies.append(message)
            assert not any(isinstance(m, p.Pong) for m in replies), "a ping was answered"
            assert all(isinstance(m, p.Error) and m.code == "overloaded" for m in replies)
            assert replies, "the client was not told that messages were dropped"
            # Over the limit, the answer to the invocation in flight still counts ...
            answer = p.Result(invocation_id=message.invocation_id, status="success", output=1)
            ws.send(p.encode(answer))
            run = run_waiter(http, created["id"])
            assert run["results"][0]["status"] == "passed", run
            assert run["results"][0]["output"] == 1
            # ... once: a second answer to it is dropped like any other message.
            ws.send(p.encode(answer))
            ws.send(p.encode(p.Ping(id="after")))
            with pytest.raises(TimeoutError):
                while True:
                    late = _recv(ws, timeout=1.5)
                    assert isinstance(late, p.Error) and late.code == "overloaded", late


def test_a_frame_over_the_hard_limit_is_refused_while_it_arrives(
    receiver: RunningReceiver, project: Any
) -> None:
    from websockets.exceptions import ConnectionClosed

    from spanlink.receiver.testruns.websocket import max_frame_bytes

    limit = max_frame_bytes(Settings(database_url="postgresql://unused@127.0.0.1:1/none"))
    with _open(receiver, project.api_key) as ws:
        ws.send(p.encode(p.Register(functions=(p.FunctionSpec(name="f"),), sdk_version="1")))
        assert isinstance(_recv(ws), p.Registered)
        with pytest.raises(ConnectionClosed) as closed:
            ws.send("x" * (limit + 1))
            while True:
                _recv(ws)
    # Closed by the WebSocket server's own frame limit, not after buffering the frame whole.
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert closed.value.rcvd.reason != "message too big"
