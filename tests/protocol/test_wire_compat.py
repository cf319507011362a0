"""The wire format is byte-for-byte what the first protocol implementation wrote and read.

``wire_v1.json`` was recorded from the hand-written codec this package replaced:
``canonical`` holds texts it encoded, ``decoded`` pairs raw input with the text of its
decoded message encoded again (defaults, nulls, unknown fields), and ``errors`` holds the
code, reason and context of each rejected input. The reasons name JSON Schema types: an
integral number is reported as ``integer`` (the first codec said ``number``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import spanlink.protocol as p

_WIRE = json.loads((Path(__file__).parent / "wire_v1.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("text", _WIRE["canonical"])
def test_encoded_texts_are_unchanged(text: str) -> None:
    assert p.encode(p.decode(text)) == text


@pytest.mark.parametrize(("raw", "expected"), _WIRE["decoded"])
def test_decoding_fills_the_same_defaults(raw: str, expected: str) -> None:
    assert p.encode(p.decode(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "code", "reason", "message_type", "invocation_id"), _WIRE["errors"]
)
def test_rejections_are_unchanged(
    raw: str, code: str, reason: str, message_type: str | None, invocation_id: str | None
) -> None:
    with pytest.raises(p.ProtocolError) as raised:
        p.decode(raw)
    error = raised.value
    assert (error.code, str(error), error.message_type, error.invocation_id) == (
        code,
        reason,
        message_type,
        invocation_id,
    )


def test_constructed_messages_encode_as_recorded() -> None:
    invoke = p.Invoke(
        invocation_id="i",
        function="f",
        test_context={"configuration_id": None, "case_id": "c"},
    )
    assert p.encode(invoke) in _WIRE["canonical"]
    assert invoke.test_context == {"case_id": "c"}  # None values are left out


def test_test_context_refuses_unknown_fields() -> None:
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['runid'\]"):
        p.Invoke(invocation_id="i", function="f", test_context={"runid": "r"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "integer"),
        (-3, "integer"),
        (3.0, "integer"),  # JSON Schema: a number without fractional part is an integer
        (-0.0, "integer"),
        (2**70, "integer"),
        (1.5, "number"),
        (float("inf"), "number"),
        (float("nan"), "number"),
        ("3", "string"),
        ([1], "array"),
        ({"a": 1}, "object"),
        ({1, 2}, "set"),
    ],
)
def test_json_type_names_json_schema_types(value: Any, expected: str) -> None:
    assert p.json_type(value) == expected
    assert p.is_json_integer(value) is (expected == "integer")


def test_integer_fields_accept_integral_numbers_only() -> None:
    text = '{"type":"chunk","v":1,"invocation_id":"i","index":%s,"data":null}'
    chunk = p.decode(text % "3.0")
    assert isinstance(chunk, p.Chunk) and chunk.index == 3 and type(chunk.index) is int
    for bad, reason in [("true", "got boolean"), ("1.5", "got number"), ("-1", "got -1")]:
        with pytest.raises(p.ProtocolError, match=f"must be a non-negative integer, {reason}"):
            p.decode(text % bad)
