"""The client's connection: registration, bad messages, auth, reconnect, heartbeats, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from typing import Any

import pytest

import spanlink.protocol as p
from spanlink.endpoint import AuthenticationError, Registry, connect
from spanlink.tracer.support import backoff_delay


def _registry() -> Registry:
    registry = Registry()

    @registry.endpoint(team="support", tier=1)
    def echo(text: str, repeat: int = 1) -> str:
        """Repeat the text."""
        return text * repeat

    return registry


async def test_register_announces_functions_schemas_environment_and_version(
    peer: Any, serving: Any
) -> None:
    async with serving(peer, _registry(), environment="staging"):
        register = peer.registers[0]
    assert register.environment == "staging"
    assert register.sdk == "spanlink-endpoint" and register.sdk_version
    assert register.instance_id and register.metadata["pid"] > 0
    (spec,) = register.functions
    assert spec.name == "echo" and spec.metadata == {"team": "support", "tier": 1}
    assert spec.description == "Repeat the text."
    assert spec.parameters["properties"] == {
        "text": {"type": "string"},
        "repeat": {"type": "integer", "default": 1},
    }
    assert spec.parameters["required"] == ["text"]
    assert spec.returns == {"type": "string"} and spec.streaming is False
    # The handshake carried the bearer key and our user agent.
    request = peer.requests[0]
    assert request.headers["Authorization"] == "Bearer sk-test-123"
    assert request.headers["User-Agent"].startswith("spanlink-endpoint/")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_json"),
        ('{"v": 1}', "unknown_type"),
        ('{"type": "teleport", "v": 1}', "unknown_type"),
        ('{"type": "ping", "v": 99}', "unsupported_version"),
        ('{"type": "ping"}', "invalid_message"),
        ('{"type": "cancel", "v": 1}', "invalid_message"),
        ('{"type": "result", "v": 1, "invocation_id": "x", "status": "success"}', None),
    ],
)
async def test_bad_messages_get_an_error_reply_and_the_connection_survives(
    peer: Any, serving: Any, raw: str, code: str | None
) -> None:
    async with serving(peer, _registry()) as client:
        await peer.send(raw)
        reply = await peer.next_message()
        assert isinstance(reply, p.Error)
        assert reply.code == (code or "unexpected_message"), reply
        assert reply.message
        result = await peer.invoke("echo", {"text": "still ok"})
        assert result.output == "still ok"
        assert client.stats.connections == 1


async def test_oversized_message_gets_an_error_reply_not_a_disconnect(
    peer: Any, serving: Any
) -> None:
    async with serving(peer, _registry(), max_message_bytes=4096) as client:
        big = p.Invoke(invocation_id="big", function="echo", arguments={"text": "x" * 10_000})
        await peer.send(big)
        reply = await peer.next_message()
        assert isinstance(reply, p.Error) and reply.code == "oversized"
        assert "4096" in reply.message
        assert (await peer.invoke("echo", {"text": "fine"})).output == "fine"
        assert client.stats.connections == 1


async def test_invalid_invoke_with_an_id_gets_a_failed_result(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry()):
        future = peer.expect_result("inv-x")
        await peer.send(json.dumps({"type": "invoke", "v": 1, "invocation_id": "inv-x"}))
        result = await asyncio.wait_for(future, 5)
    assert result.status == "error" and result.error is not None
    assert result.error.type == "ProtocolError"
    assert "'function' is required" in result.error.message


async def test_duplicate_invocation_id_is_refused(peer: Any, serving: Any) -> None:
    registry = Registry()
    release = asyncio.Event()

    @registry.endpoint
    async def hold() -> str:
        await release.wait()
        return "held"

    async with serving(peer, registry):
        future = peer.expect_result("same")
        await peer.send(p.Invoke(invocation_id="same", function="hold"))
        await peer.send(p.Invoke(invocation_id="same", function="hold"))
        reply = await peer.next_message()
        release.set()
        result = await asyncio.wait_for(future, 5)
    assert isinstance(reply, p.Error) and reply.code == "duplicate_invocation"
    assert reply.invocation_id == "same"
    assert result.output == "held"


async def test_client_answers_pings_and_sends_its_own(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry(), heartbeat_interval_s=0.05):
        await peer.send(p.Ping(id="p-1"))
        pong = await peer.next_message()
        for _ in range(200):
            if len(peer.pings) >= 2:
                break
            await asyncio.sleep(0.01)
    assert pong == p.Pong(id="p-1")
    assert len(peer.pings) >= 2 and all(ping.id for ping in peer.pings)


async def test_heartbeat_follows_the_interval_the_receiver_asks_for(
    make_peer: Any, make_client: Any
) -> None:
    server = await make_peer(register_reply=p.Registered(heartbeat_interval_s=0.05))
    async with make_client(server.url, _registry()):  # its own interval: 20 s
        await server.wait_registered()
        for _ in range(300):
            if len(server.pings) >= 2:
                break
            await asyncio.sleep(0.01)
    assert len(server.pings) >= 2


async def test_silent_receiver_is_dropped_and_the_client_reconnects(
    make_peer: Any, make_client: Any
) -> None:
    mute = await make_peer(answer_pings=False)
    client = make_client(mute.url, _registry(), heartbeat_interval_s=0.05, heartbeat_timeout_s=0.1)
    async with client:
        for _ in range(500):
            if len(mute.registers) >= 2:
                break
            await asyncio.sleep(0.01)
    assert len(mute.registers) >= 2  # dropped after the missed pong, registered again


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_is_not_retried_and_says_what_to_do(
    make_peer: Any, make_client: Any, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server = await make_peer(refuse_status=status)
    client = make_client(server.url, _registry(), api_key="wrong-key")
    with caplog.at_level(logging.ERROR, "spanlink.endpoint"):
        with pytest.raises(AuthenticationError, match=f"HTTP {status}") as raised:
            await asyncio.wait_for(client.run(), 10)
    assert raised.value.status == status
    await asyncio.sleep(0.3)  # several backoff periods: still a single attempt
    assert server.handshakes == 1 and server.refused == 1
    assert "SPANLINK_API_KEY" in caplog.text and "will not retry" in caplog.text


async def test_registration_refused_as_unauthorized_is_not_retried(
    make_peer: Any, make_client: Any
) -> None:
    server = await make_peer(register_reply=p.Error(code="unauthorized", message="key revoked"))
    client = make_client(server.url, _registry())
    with pytest.raises(AuthenticationError, match="key revoked"):
        await asyncio.wait_for(client.run(), 10)
    assert server.handshakes == 1


async def test_reconnects_and_registers_again_after_the_receiver_restarts(
    make_peer: Any, make_client: Any
) -> None:
    first = await make_peer()
    client = make_client(first.url, _registry())
    async with client:
        await first.wait_registered()
        assert (await first.invoke("echo", {"text": "a"})).output == "a"
        port = first.port
        await first.stop()
        for _ in range(100):
            if not client.registered:
                break
            await asyncio.sleep(0.01)
        assert not client.registered
        await asyncio.sleep(0.3)  # a few failed attempts while nobody listens
        second = await make_peer(port=port)
        register = await second.wait_registered()
        assert register.instance_id == first.registers[0].instance_id
        assert (await second.invoke("echo", {"text": "b", "repeat": 2})).output == "bb"
        assert await client.wait_registered(5)
    assert client.stats.registrations == 2 and client.stats.connections == 2


async def test_connect_derives_the_websocket_url_from_the_base_url(
    peer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANLINK_ENDPOINT", f"http://127.0.0.1:{peer.port}")
    monkeypatch.setenv("SPANLINK_API_KEY", "sk-test-123")
    monkeypatch.setenv("SPANLINK_ENVIRONMENT", "ci")
    client = connect(registry=_registry(), reconnect_initial_s=0.05)
    assert client.url == f"ws://127.0.0.1:{peer.port}/ws/endpoints"
    async with client:
        register = await peer.wait_registered()
        assert register.environment == "ci"
        assert (await peer.invoke("echo", {"text": "env"})).output == "env"


async def test_background_thread_for_sync_apps_and_bounded_stop(peer: Any) -> None:
    registry = _registry()
    entered = threading.Event()
    release = threading.Event()

    @registry.endpoint
    def stuck() -> str:
        entered.set()
        release.wait(30)
        return "late"

    client = connect(peer.url, api_key="sk-test-123", registry=registry).start()
    try:
        await peer.wait_registered()
        assert await asyncio.to_thread(client.wait_until_registered, 5)
        assert (await peer.invoke("echo", {"text": "from a thread"})).output == "from a thread"
        future = peer.expect_result("stuck-1")
        await peer.send(p.Invoke(invocation_id="stuck-1", function="stuck"))
        assert await asyncio.to_thread(entered.wait, 5)
        # stop() blocks its caller: run it off the loop that serves the peer.
        stopped = await asyncio.to_thread(client.stop, 3.0)
        assert stopped  # returned True: the client thread ended within the deadline
        result = await asyncio.wait_for(future, 5)
        assert result.status == "cancelled" and result.error is not None
        assert "stopping" in result.error.message
        assert not client.registered
    finally:
        release.set()
        client.stop(1.0)


async def test_stop_before_start_and_aclose_are_safe(peer: Any, make_client: Any) -> None:
    client = make_client(peer.url, _registry())
    assert client.stop(0.1)  # nothing running: returns at once
    async with client:
        await peer.wait_registered()
    assert await client.aclose(1.0)
    assert not client.registered


async def test_connection_lost_mid_invocation_cancels_it_and_registers_again(
    peer: Any, serving: Any
) -> None:
    registry = _registry()
    started, cancelled = asyncio.Event(), asyncio.Event()

    @registry.endpoint
    async def long_call() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async with serving(peer, registry) as client:
        await peer.send(p.Invoke(invocation_id="lost-1", function="long_call"))
        await asyncio.wait_for(started.wait(), 5)
        assert peer.connection is not None
        await peer.connection.close(code=1012, reason="receiver restarting")
        await asyncio.wait_for(cancelled.wait(), 5)  # the orphaned call does not run on
        for _ in range(500):
            if len(peer.registers) >= 2 and peer.connection is not None:
                break
            await asyncio.sleep(0.01)
        assert len(peer.registers) == 2
        assert (await peer.invoke("echo", {"text": "back"})).output == "back"
        assert client.stats.connections == 2


async def test_other_handshake_refusals_are_retried(make_peer: Any, make_client: Any) -> None:
    server = await make_peer(refuse_status=503)
    async with make_client(server.url, _registry(), api_key="wrong-key"):
        for _ in range(500):
            if server.handshakes >= 3:
                break
            await asyncio.sleep(0.01)
    assert server.handshakes >= 3  # a server error is worth another try, with backoff


def test_backoff_is_exponential_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0), (500, 30.0)]:
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread: jitter


async def test_outputs_stay_under_the_limit_the_receiver_announces(
    make_peer: Any, make_client: Any
) -> None:
    registry = Registry()

    @registry.endpoint
    def big() -> str:
        return "é" * 10_000

    server = await make_peer(register_reply=p.Registered(max_message_bytes=4096))
    async with make_client(server.url, registry):
        await server.wait_registered()
        result = await server.invoke("big")
    assert result.output_truncated and len(p.encode(result).encode()) <= 4096
