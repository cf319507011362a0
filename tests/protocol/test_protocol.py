"""The wire protocol module: round trips, and a clear ProtocolError for every bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spanlink.protocol as p

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"

MESSAGES: list[p.Message] = [
    p.Register(
        functions=(
            p.FunctionSpec(
                name="answer",
                parameters={"type": "object", "properties": {"q": {"type": "string"}}},
                returns={"type": "string"},
                metadata={"team": "support"},
                description="Answer a question.",
                streaming=True,
            ),
            p.FunctionSpec(name="plain"),
        ),
        sdk_version="0.1.0",
        environment="staging",
        instance_id="abc",
        metadata={"pid": 12},
    ),
    p.Registered(
        functions=("answer", "plain"),
        connection_id="c-1",
        heartbeat_interval_s=15.0,
        max_message_bytes=65536,
    ),
    p.Invoke(
        invocation_id="i-1",
        function="answer",
        arguments={"q": "héllo", "nested": {"list": [1, 2.5, None, True]}},
        test_context={"run_id": "r", "case_id": "c", "result_id": "res", "configuration_id": "k"},
        timeout_s=30.0,
    ),
    p.Invoke(invocation_id="i-2", function="plain"),
    p.Result(
        invocation_id="i-1",
        status="success",
        output={"answer": "42"},
        duration_ms=12.5,
        trace_id=TRACE_ID,
        span_count=20,
    ),
    p.Result(
        invocation_id="i-2",
        status="error",
        error=p.ErrorInfo(type="ValueError", message="bad"),
        output_truncated=True,
        output="xx...[truncated]",
    ),
    p.Result(
        invocation_id="i-3", status="timeout", error=p.ErrorInfo(type="TimeoutError", message="")
    ),
    p.Result(invocation_id="i-4", status="success", output="ab", chunk_count=2),
    p.Chunk(invocation_id="i-4", index=0, data="a"),
    p.Chunk(invocation_id="i-4", index=1, data={"token": "b", "n": [1, None]}),
    p.Chunk(invocation_id="i-4", index=2, data=None),
    p.Cancel(invocation_id="i-1", reason="run cancelled"),
    p.Ping(id="1"),
    p.Ping(),
    p.Pong(id="1"),
    p.Error(code="oversized", message="too big", invocation_id="i-9", message_type="invoke"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.type)
def test_every_message_round_trips(message: p.Message) -> None:
    text = p.encode(message)
    data = json.loads(text)
    assert data["type"] == message.type and data["v"] == p.PROTOCOL_VERSION
    assert p.decode(text) == message
    assert p.decode(text.encode()) == message  # binary frames too


def test_message_types_and_codes_are_exposed() -> None:
    assert {
        "register",
        "registered",
        "invoke",
        "result",
        "chunk",
        "cancel",
        "ping",
        "pong",
        "error",
    } == p.MESSAGE_TYPES
    assert {"success", "error", "timeout", "cancelled"} == p.RESULT_STATUSES
    assert {"malformed_json", "unknown_type", "oversized", "unsupported_version"} <= p.ERROR_CODES


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    message = p.decode('{"type":"ping","v":1,"id":"a","added_later":{"x":1}}')
    assert message == p.Ping(id="a")


def test_result_always_carries_output_even_null() -> None:
    data = json.loads(p.encode(p.Result(invocation_id="i", status="success")))
    assert "output" in data and data["output"] is None


def _invoke(**changes: Any) -> str:
    data: dict[str, Any] = {"type": "invoke", "v": 1, "invocation_id": "i-1", "function": "f"}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize(
    ("text", "code", "reason"),
    [
        ("{oops", "malformed_json", "not valid JSON"),
        ("", "malformed_json", "not valid JSON"),
        ('"just a string"', "malformed_json", "must be a JSON object, got string"),
        ('{"type":"ping","v":1,"id":NaN}', "malformed_json", "NaN is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "malformed_json", ""),
        ('{"v":1}', "unknown_type", "no 'type'"),
        ('{"type":7,"v":1}', "unknown_type", "no 'type'"),
        ('{"type":"teleport","v":1}', "unknown_type", "unknown message type 'teleport'"),
        ('{"type":"ping"}', "invalid_message", "'v' (protocol version) is required"),
        ('{"type":"ping","v":"1"}', "invalid_message", "must be an integer"),
        ('{"type":"ping","v":true}', "invalid_message", "must be an integer"),
        ('{"type":"ping","v":2}', "unsupported_version", "version 2 is not supported"),
        (_invoke(function=...), "invalid_message", "invoke: field 'function' is required"),
        (_invoke(function=""), "invalid_message", "'function' must not be empty"),
        (
            _invoke(invocation_id=5),
            "invalid_message",
            "'invocation_id' must be a string, got integer",
        ),
        (_invoke(arguments=[1]), "invalid_message", "'arguments' must be a JSON object, got array"),
        (_invoke(timeout_s=0), "invalid_message", "'timeout_s' must be a positive number"),
        (_invoke(timeout_s=-1), "invalid_message", "'timeout_s' must be a positive number"),
        (_invoke(timeout_s="5"), "invalid_message", "'timeout_s' must be a number"),
        (_invoke(test_context="r"), "invalid_message", "'test_context' must be a JSON object"),
        (_invoke(test_context={"run_id": 3}), "invalid_message", "test_context: field 'run_id'"),
        (
            '{"type":"result","v":1,"invocation_id":"i","status":"done"}',
            "invalid_message",
            "'status' must be one of",
        ),
        (
            '{"type":"result","v":1,"invocation_id":"i","status":"error"}',
            "invalid_message",
            "'error' is required when status is 'error'",
        ),
        (
            '{"type":"result","v":1,"invocation_id":"i","status":"success","trace_id":"XYZ"}',
            "invalid_message",
            "32 lowercase hex digits",
        ),
        (
            '{"type":"result","v":1,"invocation_id":"i","status":"success","duration_ms":-1}',
            "invalid_message",
            "'duration_ms' must be a non-negative number",
        ),
        (
            '{"type":"chunk","v":1,"invocation_id":"i","index":0}',
            "invalid_message",
            "chunk: field 'data' is required (null is allowed)",
        ),
        (
            '{"type":"chunk","v":1,"invocation_id":"i","index":-1,"data":"a"}',
            "invalid_message",
            "chunk: field 'index' must be a non-negative integer",
        ),
        (
            '{"type":"chunk","v":1,"index":0,"data":"a"}',
            "invalid_message",
            "chunk: field 'invocation_id' is required",
        ),
        (
            '{"type":"result","v":1,"invocation_id":"i","status":"success","chunk_count":1.5}',
            "invalid_message",
            "'chunk_count' must be a non-negative integer",
        ),
        (
            '{"type":"register","v":1,"sdk_version":"1","functions":[{"name":"a"},{"name":"a"}]}',
            "invalid_message",
            "duplicate names: ['a']",
        ),
        (
            '{"type":"register","v":1,"sdk_version":"1","functions":[3]}',
            "invalid_message",
            "register.functions[0] must be a JSON object",
        ),
        ('{"type":"register","v":1,"functions":[]}', "invalid_message", "'sdk_version'"),
        ('{"type":"error","v":1,"message":"m"}', "invalid_message", "'code' is required"),
    ],
)
def test_bad_input_raises_a_clear_protocol_error(text: str, code: str, reason: str) -> None:
    with pytest.raises(p.ProtocolError) as raised:
        p.decode(text)
    assert raised.value.code == code
    assert reason in str(raised.value)


def test_invalid_invoke_error_carries_its_invocation_id() -> None:
    with pytest.raises(p.ProtocolError) as raised:
        p.decode(_invoke(function=...))
    assert raised.value.invocation_id == "i-1" and raised.value.message_type == "invoke"
    reply = p.Error.from_exception(raised.value)
    assert reply.invocation_id == "i-1" and reply.code == "invalid_message"


def test_size_limit_counts_utf8_bytes() -> None:
    text = p.encode(p.Ping(id="é" * 600))  # 600 characters, 1200 bytes
    assert len(text) < 1024 < len(text.encode())
    with pytest.raises(p.ProtocolError, match="limit 1024") as raised:
        p.decode(text, max_bytes=1024)
    assert raised.value.code == "oversized"
    assert p.decode(text, max_bytes=2048) == p.Ping(id="é" * 600)
    with pytest.raises(p.ProtocolError) as raised:
        p.decode(text.encode(), max_bytes=1024)
    assert raised.value.code == "oversized"


def test_invalid_utf8_bytes_are_malformed() -> None:
    with pytest.raises(p.ProtocolError, match="not valid UTF-8") as raised:
        p.decode(b'{"type":"ping","v":1,"id":"\xff"}')
    assert raised.value.code == "malformed_json"


def test_unknown_error_code_from_a_newer_peer_is_kept_as_internal() -> None:
    message = p.decode('{"type":"error","v":1,"code":"brand_new","message":"m"}')
    assert isinstance(message, p.Error) and message.code == "internal"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1, 2}, object()])
def test_encode_refuses_values_json_cannot_express(bad: Any) -> None:
    with pytest.raises(p.ProtocolError, match="cannot encode") as raised:
        p.encode(p.Result(invocation_id="i", status="success", output={"x": bad}))
    assert raised.value.invocation_id == "i"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["type", "v", "invocation_id", "function", "arguments", "status", "id", "x"]
                    ),
                    inner,
                    max_size=6,
                )
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value)),
    )
)
def test_decode_raises_only_protocol_errors(text: str) -> None:
    try:
        message = p.decode(text)
    except p.ProtocolError as error:
        assert error.code in p.ERROR_CODES and str(error)
    else:
        assert p.decode(p.encode(message)) == message
