"""Decoding stays linear and bounded whatever a peer sends: caps on arrays, short echoes."""

from __future__ import annotations

import json

import pytest

import spanlink.protocol as p
from spanlink.protocol import _codec, _messages


def _register_text(count: int, name: str | None = None) -> str:
    functions = [
        {"name": name or f"function_{index}", "parameters": {"type": "object"}}
        for index in range(count)
    ]
    return json.dumps({"type": "register", "v": 1, "functions": functions, "sdk_version": "1"})


def test_register_with_30000_functions_is_refused_naming_the_limit() -> None:
    text = _register_text(30_000)
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(text, max_bytes=len(text))
    error = caught.value
    assert error.code == "invalid_message"
    assert error.message_type == "register"
    assert "'functions' has 30000 items, more than the limit of 1000" in str(error)


def test_register_with_the_most_functions_allowed_decodes() -> None:
    text = _register_text(p.MAX_FUNCTIONS)
    message = p.decode(text, max_bytes=len(text))
    assert isinstance(message, p.Register) and len(message.functions) == p.MAX_FUNCTIONS
    assert p.decode(p.encode(message), max_bytes=2 * len(text)) == message


def test_registered_function_names_are_capped_too() -> None:
    names = [f"f{index}" for index in range(p.MAX_FUNCTIONS + 1)]
    text = json.dumps({"type": "registered", "v": 1, "functions": names})
    with pytest.raises(p.ProtocolError, match="more than the limit of 1000"):
        p.decode(text, max_bytes=len(text))


def test_every_array_field_of_every_message_has_an_item_limit() -> None:
    arrays = [
        f"{cls.__name__}.{spec.name}"
        for cls in (*_messages.MESSAGE_CLASSES.values(), p.FunctionSpec, p.ErrorInfo)
        for spec in _codec._layout(cls).decode_order
        if spec.kind == "array" and spec.rules.max_items is None
    ]
    assert arrays == []


def test_many_duplicate_names_give_a_short_error() -> None:
    text = _register_text(p.MAX_FUNCTIONS, name="same" * 50)
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(text, max_bytes=len(text))
    assert "duplicate names" in str(caught.value)
    assert len(str(caught.value)) < 400


def test_distinct_duplicates_are_listed_briefly() -> None:
    functions = [{"name": f"n{index % 500}"} for index in range(p.MAX_FUNCTIONS)]
    text = json.dumps({"type": "register", "v": 1, "functions": functions, "sdk_version": "1"})
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(text, max_bytes=len(text))
    message = str(caught.value)
    assert "(500 in all)" in message and len(message) < 400


@pytest.mark.parametrize(
    "data",
    [
        {"type": "x" * 500_000, "v": 1},
        {"type": "result", "v": 1, "invocation_id": "i", "status": "s" * 500_000},
        {"type": "error", "v": 1, "code": "internal", "message": "m", "invocation_id": 1},
    ],
)
def test_errors_repeat_only_an_excerpt_of_what_was_received(data: dict[str, object]) -> None:
    text = json.dumps(data)
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(text)
    error = caught.value
    assert len(str(error)) < 500
    reply = p.encode(p.Error.from_exception(error))
    assert len(reply) < 1000  # the answer is never as large as the offending message
