"""normalize() is total: every row of its table, given every OTLP value type, never raises
and maps only values that fit the target's type (arrays, bytes, kvlists, ints where strings
belong, numbers past int64, nan/inf, None)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spanlink.tracer import semconv
from spanlink.tracer.semconv import normalize
from spanlink.tracer.semconv.normalize import MAPPINGS, AttributeMapping

# What each target may hold after normalize, written from the GenAI specification's types
# (not from the converters), so a row that copies a wrong type fails here.
_TEXT = (str,)
_INT = (int,)
TARGET_TYPES: dict[str, tuple[type, ...]] = {
    semconv.GEN_AI_REQUEST_MODEL: _TEXT,
    semconv.GEN_AI_RESPONSE_MODEL: _TEXT,
    semconv.GEN_AI_PROVIDER_NAME: _TEXT,
    semconv.GEN_AI_OPERATION_NAME: _TEXT,
    semconv.SPANLINK_KIND: _TEXT,
    semconv.SPANLINK_INPUT: _TEXT,
    semconv.SPANLINK_OUTPUT: _TEXT,
    semconv.GEN_AI_TOOL_NAME: _TEXT,
    semconv.GEN_AI_TOOL_DESCRIPTION: _TEXT,
    semconv.GEN_AI_AGENT_NAME: _TEXT,
    semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: _TEXT,
    semconv.GEN_AI_INPUT_MESSAGES: _TEXT,
    semconv.GEN_AI_OUTPUT_MESSAGES: _TEXT,
    semconv.SPANLINK_SOURCE_CONVENTION: _TEXT,
    semconv.GEN_AI_USAGE_INPUT_TOKENS: _INT,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: _INT,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: _INT,
    semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: _INT,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: _INT,
    semconv.GEN_AI_REQUEST_MAX_TOKENS: _INT,
    semconv.TOTAL_TOKENS: _INT,
    semconv.GEN_AI_REQUEST_TEMPERATURE: (int, float),
    semconv.GEN_AI_REQUEST_STREAM: (bool,),
    semconv.GEN_AI_RESPONSE_FINISH_REASONS: (list,),
}

# One value of every OTLP AnyValue type (and what the SDK and JSON decoders hand over).
EVERY_TYPE: list[Any] = [
    None,
    "",
    "chat",
    "completion",
    "rerank",
    "LLM",
    "12",
    "1" * 5000,  # past int()'s digit limit
    "nan",
    "1e999",
    "true",
    "{}",
    '{"model": ["gpt-4o"]}',
    "[" * 100_000,  # nested past the JSON parser's depth
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,  # past int64
    -(2**200),
    0.5,
    3.0,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
    b"",
    b"\xff\x00bytes",
    bytearray(b"12"),
    [],
    (),
    ["chat"],
    ("chat", "completion"),
    [1, 2],
    [True],
    [1.5, math.nan],
    [b"x"],
    [None],
    [[["deep"]]],
    ["mixed", 1, None, {"k": "v"}],
    {},
    {"model": "gpt-4o"},
    {"a": {"b": [1, {"c": b"x"}]}},
]

_scalars = (
    st.none()
    | st.text()
    | st.booleans()
    | st.integers()  # unbounded: past int64 both ways
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.binary()
)
OTLP_VALUES = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

_MESSAGE_KEYS = [
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.output_messages.1.message.content",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.3.content",
    "gen_ai.prompt." + "9" * 5000 + ".content",  # an index past int()'s digit limit
]
# The generated mixes leave out the 5,000-digit key (covered one value type at a time in
# test_indexed_message_keys_with_every_value_type): it would only bloat hypothesis' reports.
SOURCE_KEYS = sorted({row.source for row in MAPPINGS}) + _MESSAGE_KEYS[:-1]


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _same(left: Any, right: Any) -> bool:
    return left is right or left == right


def check(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """normalize() does not raise, keeps the originals and types every target it adds."""
    snapshot = dict(attributes)
    out = normalize(attributes)
    assert dict(attributes).keys() == snapshot.keys()  # input not mutated
    for key, value in attributes.items():
        assert _same(out[key], value), key
    for key, value in out.items():
        if key in attributes:
            continue
        assert key in TARGET_TYPES, f"normalize added an untyped name {key!r}"
        assert isinstance(value, TARGET_TYPES[key]), (key, value)
        if isinstance(value, bool) and bool not in TARGET_TYPES[key]:
            raise AssertionError(f"{key} got a bool: {value!r}")
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)
        if key == semconv.GEN_AI_RESPONSE_FINISH_REASONS:
            assert all(isinstance(item, str) for item in value)
        if key in (semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES):
            for message in _strict_json(value):
                assert isinstance(message["role"], str)
                assert all(isinstance(part["content"], str) for part in message["parts"])
    return out


def _row_id(row: AttributeMapping) -> str:
    return f"{row.source}->{row.target}"


def test_every_target_has_a_declared_type() -> None:
    assert {row.target for row in MAPPINGS} <= TARGET_TYPES.keys()


@pytest.mark.parametrize("row", MAPPINGS, ids=_row_id)
def test_every_row_with_every_value_type(row: AttributeMapping) -> None:
    for value in EVERY_TYPE:
        check({row.source: value})
        # Beside a value already set under the target, which always wins.
        out = check({row.source: value, row.target: "kept"})
        assert out[row.target] == "kept"


@pytest.mark.parametrize("row", MAPPINGS, ids=_row_id)
@settings(derandomize=True, max_examples=60, deadline=None)
@given(value=OTLP_VALUES)
def test_every_row_with_generated_values(row: AttributeMapping, value: Any) -> None:
    check({row.source: value})


@pytest.mark.parametrize("key", _MESSAGE_KEYS)
def test_indexed_message_keys_with_every_value_type(key: str) -> None:
    for value in EVERY_TYPE:
        check({key: value})


@settings(derandomize=True, max_examples=300, deadline=None)
@given(attributes=st.dictionaries(st.sampled_from(SOURCE_KEYS), OTLP_VALUES, max_size=12))
def test_any_mix_of_known_keys(attributes: dict[str, Any]) -> None:
    check(attributes)


# --- the reported inputs ------------------------------------------------------------


def test_request_type_array_does_not_crash() -> None:
    # Reported: an OTLP span with llm.request.type set to an array raised
    # "unhashable type: 'list'" and failed the ingest of its whole batch.
    out = check({"llm.request.type": ["chat"]})
    assert out["llm.request.type"] == ["chat"]
    assert semconv.GEN_AI_OPERATION_NAME not in out
    assert semconv.SPANLINK_KIND not in out


def test_request_type_kvlist_and_int_do_not_reach_the_operation_name() -> None:
    for value in ({"type": "chat"}, 3, b"chat"):
        assert semconv.GEN_AI_OPERATION_NAME not in check({"llm.request.type": value})


def test_request_type_strings_still_translate() -> None:
    assert check({"llm.request.type": "completion"})[semconv.GEN_AI_OPERATION_NAME] == (
        "text_completion"
    )
    rerank = check({"llm.request.type": "rerank"})
    assert semconv.GEN_AI_OPERATION_NAME not in rerank
    assert rerank[semconv.SPANLINK_KIND] == "rerank"
    assert check({"llm.request.type": "moderation"})[semconv.GEN_AI_OPERATION_NAME] == (
        "moderation"
    )


def test_wrong_types_are_not_copied_into_genai_names() -> None:
    out = check(
        {
            "llm.model_name": ["gpt-4o"],
            "llm.provider": 7,
            "llm.token_count.prompt": True,
            "llm.token_count.completion": math.nan,
            "ai.llm.temperature": math.inf,
            "llm.is_streaming": "yes",
            "llm.finish_reason": ["stop", 1],
        }
    )
    for target in (
        semconv.GEN_AI_REQUEST_MODEL,
        semconv.GEN_AI_RESPONSE_MODEL,
        semconv.GEN_AI_PROVIDER_NAME,
        semconv.GEN_AI_USAGE_INPUT_TOKENS,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        semconv.GEN_AI_REQUEST_TEMPERATURE,
        semconv.GEN_AI_REQUEST_STREAM,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS,
    ):
        assert target not in out, target
    assert semconv.SPANLINK_SOURCE_CONVENTION not in out


def test_values_that_fit_are_converted() -> None:
    out = check(
        {
            "llm.token_count.prompt": 2**70,  # kept exact; columns clamp, not normalize
            "llm.token_count.completion": 12.0,
            "ai.llm.temperature": "0.5",
            "gen_ai.is_streaming": "true",
            "llm.finish_reason": ("stop", "length"),
            "llm.invocation_parameters": {"model": "gpt-4o"},  # a kvlist
        }
    )
    assert out[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2**70
    assert out[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 12
    assert out[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert out[semconv.GEN_AI_REQUEST_STREAM] is True
    assert out[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop", "length"]
    assert out[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"


def test_non_text_message_content_becomes_strict_json_text() -> None:
    out = check(
        {
            "gen_ai.prompt.0.role": ["user"],
            "gen_ai.prompt.0.content": {"a": b"\xff", "n": math.nan},
            "gen_ai.prompt.1.content": b"hi",
        }
    )
    messages = _strict_json(out[semconv.GEN_AI_INPUT_MESSAGES])
    assert messages[0]["role"] == "user"
    assert _strict_json(messages[0]["parts"][0]["content"]) == {"a": "\ufffd", "n": "nan"}
    assert messages[1]["parts"][0]["content"] == "hi"


def test_deeply_nested_invocation_parameters() -> None:
    out = check({"llm.invocation_parameters": "[" * 100_000})
    assert semconv.GEN_AI_REQUEST_MODEL not in out
