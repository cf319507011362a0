"""``WS /ws/endpoints`` spoken to directly: auth, every bad message, limits, disconnects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from socket_helpers import open_socket, recv, register
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

import spanlink.protocol as p
from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.testruns import _runs


@pytest.fixture
def peer(receiver: RunningReceiver, project: Any) -> Iterator[ClientConnection]:
    with open_socket(receiver, project.api_key) as ws:
        yield ws


def test_missing_or_unknown_key_is_refused_with_401(receiver: RunningReceiver) -> None:
    for key in (None, "slk_not-a-key"):
        with pytest.raises(InvalidStatus) as caught:
            open_socket(receiver, key)
        assert caught.value.response.status_code == 401


def test_registration_is_answered_with_limits(peer: ClientConnection) -> None:
    registered = register(peer, "f", "g")
    assert registered.functions == ("f", "g")
    assert registered.connection_id
    assert registered.max_message_bytes == 1024 * 1024
    assert registered.heartbeat_interval_s == 15.0


def test_every_bad_message_gets_an_error_and_the_connection_stays(peer: ClientConnection) -> None:
    peer.send(json.dumps({"type": "result", "v": 1, "invocation_id": "x", "status": "success"}))
    first = recv(peer)
    assert isinstance(first, p.Error) and first.code == "unexpected_message"
    assert "register" in first.message
    register(peer)
    bad: list[tuple[str, str]] = [
        ("{not json", "malformed_json"),
        ('["a list"]', "malformed_json"),
        (json.dumps({"type": "teleport", "v": 1}), "unknown_type"),
        (json.dumps({"type": "ping", "v": 99}), "unsupported_version"),
        (json.dumps({"type": "result", "v": 1, "status": "maybe"}), "invalid_message"),
        (json.dumps({"type": "ping", "v": 1, "pad": "x" * (1024 * 1024 + 10)}), "oversized"),
        (
            json.dumps({"type": "invoke", "v": 1, "invocation_id": "i", "function": "f"}),
            "unexpected_message",
        ),
        (p.encode(p.Result(invocation_id="nobody", status="success")), "unexpected_message"),
    ]
    for text, code in bad:
        peer.send(text)
        reply = recv(peer)
        assert isinstance(reply, p.Error), (text[:60], reply)
        assert reply.code == code, (text[:60], reply)
        assert reply.message
    peer.send(p.encode(p.Ping(id="still-there")))
    assert recv(peer, skip_pings=False) == p.Pong(id="still-there")


def test_disconnect_mid_invocation_fails_the_result_with_the_reason(
    client: httpx.Client,
    run_waiter: Any,
    monkeypatch: pytest.MonkeyPatch,
    endpoint_peer: Any,
) -> None:
    monkeypatch.setattr(_runs, "ENDPOINT_WAIT_S", 0.3)
    with endpoint_peer("f") as ws:
        cases = [{"id": "a", "inputs": {"x": 1}}, {"id": "b", "inputs": {"x": 2}}]
        created = client.post(
            "/api/v1/test-runs", json={"function": "f", "cases": cases, "concurrency": 1}
        ).json()
        invoke = recv(ws)
        assert isinstance(invoke, p.Invoke)
        assert invoke.invocation_id == created["results"][0]["id"]
        assert invoke.test_context["result_id"] == invoke.invocation_id
        assert invoke.test_context["run_id"] == created["id"]
        assert invoke.arguments == {"x": 1}
    run = run_waiter(client, created["id"])
    assert run["status"] == "completed"
    first, second = run["results"]
    assert first["status"] == "error"
    assert first["error"].startswith("EndpointDisconnected: ")
    assert second["status"] == "error"  # nothing else connected: a clear reason, no hang
    assert "no connected endpoint offers the function 'f'" in second["error"]


def test_rate_limit_answers_overloaded_and_keeps_results(database_url: str, project: Any) -> None:
    with start_in_thread(Settings(database_url=database_url, endpoint_rate_limit_per_s=2)) as r:
        with open_socket(r, project.api_key) as ws:
            register(ws)
            for n in range(10):
                ws.send(p.encode(p.Ping(id=str(n))))
            replies = [recv(ws, skip_pings=False) for _ in range(5)]
            assert any(isinstance(m, p.Error) and m.code == "overloaded" for m in replies)
            assert sum(isinstance(m, p.Pong) for m in replies) >= 2


def test_receiver_pings_and_closes_silent_connections(database_url: str, project: Any) -> None:
    settings = Settings(database_url=database_url, endpoint_heartbeat_interval_s=0.2)
    with start_in_thread(settings) as r, open_socket(r, project.api_key) as ws:
        register(ws)
        assert isinstance(recv(ws, skip_pings=False), p.Ping)
        # Say nothing more: after three intervals the receiver closes the connection.
        with pytest.raises(Exception):  # noqa: B017 - ConnectionClosed or TimeoutError
            while True:
                ws.recv(timeout=3)


def test_unanswered_invocation_times_out_and_is_cancelled(
    client: httpx.Client,
    run_waiter: Any,
    monkeypatch: pytest.MonkeyPatch,
    endpoint_peer: Any,
) -> None:
    monkeypatch.setattr(_runs, "RESULT_MARGIN_S", 0.2)
    with endpoint_peer("f") as ws:
        created = client.post(
            "/api/v1/test-runs",
            json={"function": "f", "cases": [{"inputs": {}}], "timeout_s": 0.3},
        ).json()
        assert isinstance(recv(ws), p.Invoke)
        cancel = recv(ws)
        assert isinstance(cancel, p.Cancel)
        run = run_waiter(client, created["id"])
        [result] = run["results"]
        assert result["status"] == "timeout"
        assert result["error"].startswith("Timeout: no result from the endpoint within 0.3 s")
        # A late answer changes nothing and is told so.
        ws.send(p.encode(p.Result(invocation_id=result["id"], status="success", output=1)))
        late = recv(ws)
        assert isinstance(late, p.Error) and late.code == "unexpected_message"
        assert (
            client.get(f"/api/v1/test-runs/{created['id']}").json()["results"][0]["status"]
            == "timeout"
        )


def test_nul_characters_in_inputs_and_answers_are_stored_replaced(
    client: httpx.Client, run_waiter: Any, endpoint_peer: Any
) -> None:
    with endpoint_peer("f") as ws:
        created = client.post(
            "/api/v1/test-runs",
            json={
                "function": "f",
                "cases": [{"inputs": {"x": "a\x00b"}}],
                "metadata": {"k": "\x00"},
            },
        )
        assert created.status_code == 201, created.text
        invoke = recv(ws)
        assert isinstance(invoke, p.Invoke)
        assert invoke.arguments == {"x": "a\x00b"}  # the function gets what was asked
        ws.send(
            p.encode(
                p.Result(
                    invocation_id=invoke.invocation_id,
                    status="error",
                    output="o\x00",
                    error=p.ErrorInfo(type="E\x00", message="m\x00"),
                )
            )
        )
        run = run_waiter(client, created.json()["id"])
        [result] = run["results"]
        assert result["input"] == {"x": "a\ufffdb"}
        assert result["output"] == "o\ufffd"
        assert result["error"] == "E\ufffd: m\ufffd"


def test_message_far_over_the_limit_closes_with_1009(endpoint_peer: Any) -> None:
    with endpoint_peer() as ws:
        ws.send(json.dumps({"type": "ping", "v": 1, "pad": "x" * (4 * 1024 * 1024 + 1)}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
