"""Generator chunks streamed to the receiver: visible while the case runs, bounded, checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from socket_helpers import recv
from websockets.sync.client import ClientConnection

import spanlink.protocol as p
from spanlink.receiver.server import RunningReceiver
from spanlink.receiver.testruns import _streaming


def _case(run: dict[str, Any]) -> dict[str, Any]:
    [result] = run["results"]
    return result


def test_chunks_are_visible_while_the_case_runs_and_the_result_replaces_them(
    receiver: RunningReceiver,
    project: Any,
    client: httpx.Client,
    endpoint_app: Any,
    run_waiter: Any,
    tmp_path: Path,
) -> None:
    endpoint_app(receiver.url, project.api_key)
    words = ["It ", "ships ", "tomorrow."]
    created = client.post(
        "/api/v1/test-runs",
        json={
            "function": "gated_words",
            "cases": [{"inputs": {"words": words, "gate": str(tmp_path)}}],
        },
    ).json()
    # The generator waits at the gate after its first chunk: only that one is visible.
    run = run_waiter(client, created["id"], lambda run: _case(run)["chunk_count"] == 1)
    case = _case(run)
    assert case["status"] == "running"
    assert case["partial_output"] == "It "
    assert case["output"] is None
    (tmp_path / "1").touch()
    run = run_waiter(client, created["id"], lambda run: _case(run)["chunk_count"] == 2)
    assert _case(run)["partial_output"] == "It ships "  # in order
    assert _case(run)["status"] == "running"
    (tmp_path / "2").touch()
    run = run_waiter(client, created["id"])
    case = _case(run)
    assert case["status"] == "passed"
    assert case["output"] == "It ships tomorrow."  # the concatenation
    assert case["partial_output"] is None  # replaced by the output
    assert case["chunk_count"] == 3


def test_a_long_stream_is_capped_by_the_client_and_the_output_is_whole(
    receiver: RunningReceiver,
    project: Any,
    client: httpx.Client,
    endpoint_app: Any,
    run_waiter: Any,
) -> None:
    endpoint_app(receiver.url, project.api_key)
    created = client.post(
        "/api/v1/test-runs",
        json={"function": "many_chunks", "cases": [{"inputs": {"count": 1500}}]},
    ).json()
    case = _case(run_waiter(client, created["id"]))
    assert case["status"] == "passed"
    assert case["output"] == "x" * 1500
    assert case["chunk_count"] == 1500  # counted past the streaming cap


def _start_case(client: httpx.Client, ws: ClientConnection) -> tuple[str, p.Invoke]:
    created = client.post("/api/v1/test-runs", json={"function": "f", "cases": [{"inputs": {}}]})
    assert created.status_code == 201, created.text
    invoke = recv(ws)
    assert isinstance(invoke, p.Invoke)
    return created.json()["id"], invoke


def _chunk(invocation_id: str, index: int, data: Any) -> str:
    return p.encode(p.Chunk(invocation_id=invocation_id, index=index, data=data))


def test_bad_and_unknown_chunks_get_errors_and_the_connection_goes_on(
    client: httpx.Client, run_waiter: Any, endpoint_peer: Any
) -> None:
    with endpoint_peer("f", streaming=True) as ws:
        run_id, invoke = _start_case(client, ws)
        iid = invoke.invocation_id
        envelope = {"type": "chunk", "v": 1, "invocation_id": iid}
        bad = [
            (json.dumps({**envelope, "data": "a"}), "invalid_message"),
            (json.dumps({**envelope, "index": -1, "data": 1}), None),
            (json.dumps({**envelope, "index": "0", "data": 1}), None),
            (json.dumps({**envelope, "index": 0}), None),
            ('{"type":"chunk","v":1,"index":0,"data":"a"}', None),
            (_chunk("no-such-invocation", 0, "a"), "unexpected_message"),
        ]
        for text, code in bad:
            ws.send(text)
            reply = recv(ws)
            assert isinstance(reply, p.Error), (text, reply)
            assert reply.code == (code or "invalid_message"), (text, reply)
            assert reply.message_type == "chunk"
        # None of them was taken: nothing streamed so far.
        case = _case(client.get(f"/api/v1/test-runs/{run_id}").json())
        assert case["status"] == "running" and case["chunk_count"] is None
        # The connection still works: a good chunk, then the result.
        ws.send(_chunk(iid, 0, "fine"))
        run_waiter(client, run_id, lambda run: _case(run)["partial_output"] == "fine")
        ws.send(p.encode(p.Result(invocation_id=iid, status="success", output="fine")))
        case = _case(run_waiter(client, run_id))
        assert case["status"] == "passed" and case["output"] == "fine"
        # A chunk after the result is refused: the invocation is no longer in flight.
        ws.send(_chunk(iid, 1, "late"))
        late = recv(ws)
        assert isinstance(late, p.Error) and late.code == "unexpected_message"
        assert _case(client.get(f"/api/v1/test-runs/{run_id}").json())["output"] == "fine"


def test_receiver_keeps_streamed_chunks_within_its_caps(
    client: httpx.Client,
    run_waiter: Any,
    monkeypatch: pytest.MonkeyPatch,
    endpoint_peer: Any,
) -> None:
    monkeypatch.setattr(_streaming, "MAX_STREAM_CHUNKS", 3)
    monkeypatch.setattr(_streaming, "MAX_STREAM_BYTES", 40)
    with endpoint_peer("f", streaming=True) as ws:
        run_id, invoke = _start_case(client, ws)
        iid = invoke.invocation_id
        for index in range(3):
            ws.send(_chunk(iid, index, [index]))
        ws.send(_chunk(iid, 3, [3]))  # over the chunk cap: counted only
        run = run_waiter(client, run_id, lambda run: _case(run)["chunk_count"] == 4)
        case = _case(run)
        assert case["partial_output"] == [[0], [1], [2]]  # non-str chunks: the list
        assert case["partial_truncated"] is True
        ws.send(p.encode(p.Result(invocation_id=iid, status="success", output=[0, 1, 2, 3])))
        case = _case(run_waiter(client, run_id))
        assert case["output"] == [0, 1, 2, 3] and case["partial_output"] is None
        assert case["chunk_count"] == 4

        run_id, invoke = _start_case(client, ws)
        iid = invoke.invocation_id
        ws.send(_chunk(iid, 0, "a" * 20))
        ws.send(_chunk(iid, 1, "b" * 20))  # over the byte cap
        run = run_waiter(client, run_id, lambda run: _case(run)["chunk_count"] == 2)
        assert _case(run)["partial_output"] == "a" * 20
        assert _case(run)["partial_truncated"] is True
        ws.send(p.encode(p.Result(invocation_id=iid, status="success", output="done")))
        run_waiter(client, run_id)
