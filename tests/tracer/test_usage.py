"""LLM usage capture: OpenAI/Anthropic/Responses shapes (objects and dicts), streams,
``set_llm_usage`` and ``current_observation()``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import observe, semconv
from spanlink.tracer._content import configure_content
from spanlink.tracer._llm_response import (
    StreamAccumulator,
    input_messages,
    output_messages,
    response_attributes,
    set_llm_usage,
)
from spanlink.tracer._span_handle import Observation, current_observation

IN = semconv.GEN_AI_USAGE_INPUT_TOKENS
OUT = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
CACHE_READ = semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
CACHE_CREATION = semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
REASONING = semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
FINISH = semconv.GEN_AI_RESPONSE_FINISH_REASONS


@pytest.fixture(autouse=True)
def default_content_config() -> Iterator[None]:
    configure_content(enabled=True)
    yield
    configure_content()


def ns(value: Any) -> Any:
    """Dicts to attribute objects, recursively (what SDK response objects look like)."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: ns(v) for k, v in value.items()})
    if isinstance(value, list):
        return [ns(v) for v in value]
    return value


def only(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = spans.get_finished_spans()
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


OPENAI_CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Paris.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 120},
    },
}

ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
    ],
    "stop_reason": "tool_use",
    "usage": {
        "input_tokens": 100,
        "cache_read_input_tokens": 300,
        "cache_creation_input_tokens": 50,
        "output_tokens": 40,
    },
}

OPENAI_RESPONSES = {
    "id": "resp_1",
    "object": "response",
    "model": "gpt-4.1-2025-04-14",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi"}],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ],
    "usage": {
        "input_tokens": 800,
        "input_tokens_details": {"cached_tokens": 200},
        "output_tokens": 90,
        "output_tokens_details": {"reasoning_tokens": 30},
        "total_tokens": 890,
    },
}

OPENAI_EMBEDDINGS = {
    "object": "list",
    "model": "text-embedding-3-small",
    "data": [{"embedding": [0.1, 0.2], "index": 0}],
    "usage": {"prompt_tokens": 24, "total_tokens": 24},
}


# --- reading responses ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [dict, ns], ids=["dict", "object"])
def test_openai_chat_completion(shape: Any) -> None:
    got = response_attributes(shape(OPENAI_CHAT))
    assert got == {
        IN: 1000,  # includes the cached tokens, as in the GenAI conventions
        OUT: 500,
        CACHE_READ: 400,
        REASONING: 120,
        RESPONSE_MODEL: "gpt-4o-2024-08-06",
        semconv.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        FINISH: ("tool_calls",),
    }
    assert output_messages(shape(OPENAI_CHAT)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Paris."},
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "lookup",
                    "arguments": '{"city": "Paris"}',
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]


@pytest.mark.parametrize("shape", [dict, ns], ids=["dict", "object"])
def test_anthropic_message_input_includes_cache(shape: Any) -> None:
    got = response_attributes(shape(ANTHROPIC_MESSAGE))
    assert got == {
        IN: 100 + 300 + 50,  # Anthropic's input_tokens excludes cache reads and writes
        OUT: 40,
        CACHE_READ: 300,
        CACHE_CREATION: 50,
        RESPONSE_MODEL: "claude-sonnet-4-20250514",
        semconv.GEN_AI_RESPONSE_ID: "msg_1",
        FINISH: ("tool_use",),
    }
    (message,) = output_messages(shape(ANTHROPIC_MESSAGE)) or []
    assert message["finish_reason"] == "tool_use"
    assert message["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_1",
        "name": "weather",
        "arguments": shape({"city": "Oslo"}),
    }


def test_anthropic_without_cache_fields() -> None:
    response = {
        "type": "message",
        "model": "claude",
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    got = response_attributes(response)
    assert (got[IN], got[OUT]) == (7, 3)
    assert CACHE_READ not in got


@pytest.mark.parametrize("shape", [dict, ns], ids=["dict", "object"])
def test_openai_responses_api(shape: Any) -> None:
    got = response_attributes(shape(OPENAI_RESPONSES))
    assert got[IN] == 800  # includes cached
    assert got[CACHE_READ] == 200
    assert got[OUT] == 90
    assert got[REASONING] == 30
    assert got[RESPONSE_MODEL] == "gpt-4.1-2025-04-14"
    assert CACHE_CREATION not in got
    (message,) = output_messages(shape(OPENAI_RESPONSES)) or []
    assert message["parts"] == [
        {"type": "text", "content": "Hi"},
        {"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"},
    ]


def test_openai_embeddings_have_input_tokens_only() -> None:
    got = response_attributes(OPENAI_EMBEDDINGS)
    assert got == {IN: 24, RESPONSE_MODEL: "text-embedding-3-small"}


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        None,
        42,
        [1, 2],
        {"model": "not a response"},
        {"usage": {"prompt_tokens": "many", "completion_tokens": -1}},
        {"usage": {"prompt_tokens": True}},
        ns({"usage": None, "choices": None}),
    ],
)
def test_non_responses_and_bad_fields_yield_nothing(value: Any) -> None:
    got = response_attributes(value)
    assert IN not in got and OUT not in got
    assert RESPONSE_MODEL not in got or value == {"model": "not a response"}
    assert response_attributes({"model": "not a response"}) == {}


def test_reading_a_response_whose_attributes_raise() -> None:
    class Hostile:
        @property
        def usage(self) -> Any:
            raise RuntimeError("lazy field failed")

        choices = None
        model = "m"

    assert response_attributes(Hostile()) == {}
    assert output_messages(Hostile()) is None


# --- messages ------------------------------------------------------------------------


def test_input_messages_openai_and_anthropic_shapes() -> None:
    openai_messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert input_messages(openai_messages) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": "{}"}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}],
        },
    ]
    anthropic_messages = ns(
        [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                    {"type": "image", "source": {"type": "base64"}},
                ],
            }
        ]
    )
    (converted,) = input_messages(anthropic_messages) or []
    assert converted["parts"][0] == {"type": "tool_call_response", "id": "t1", "response": "42"}
    assert converted["parts"][1]["type"] == "image"
    genai = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert input_messages(genai) == genai
    assert input_messages("not messages") is None
    assert input_messages([{"no_role": 1}]) is None
    assert input_messages([]) is None


# --- automatic capture under @observe.llm --------------------------------------------


@pytest.mark.parametrize("response", [OPENAI_CHAT, ns(OPENAI_CHAT)], ids=["dict", "object"])
def test_observe_llm_records_usage_and_messages(spans: InMemorySpanExporter, response: Any) -> None:
    @observe.llm(model="gpt-4o", provider="openai")
    def chat(messages: list[dict[str, str]], temperature: float = 0.0) -> Any:
        return response

    assert chat([{"role": "user", "content": "Capital of France?"}]) is response
    a = attrs(only(spans))
    assert (a[IN], a[OUT], a[CACHE_READ], a[REASONING]) == (1000, 500, 400, 120)
    assert a[RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert a[FINISH] == ("tool_calls",)
    assert json.loads(a[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}
    ]
    out = json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert out[0]["parts"][0] == {"type": "text", "content": "Paris."}


async def test_observe_llm_async_anthropic(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="claude-sonnet-4", provider="anthropic")
    async def chat(messages: list[dict[str, str]]) -> Any:
        return ns(ANTHROPIC_MESSAGE)

    await chat([{"role": "user", "content": "hi"}])
    a = attrs(only(spans))
    assert (a[IN], a[CACHE_READ], a[CACHE_CREATION], a[OUT]) == (450, 300, 50, 40)
    assert a[FINISH] == ("tool_use",)


def test_plain_functions_do_not_read_responses(spans: InMemorySpanExporter) -> None:
    @observe
    def not_llm() -> dict[str, Any]:
        return OPENAI_CHAT

    not_llm()
    assert IN not in attrs(only(spans))


def test_embedding_spans_record_usage(spans: InMemorySpanExporter) -> None:
    @observe.embedding(model="text-embedding-3-small", provider="openai")
    def embed(texts: list[str]) -> dict[str, Any]:
        return OPENAI_EMBEDDINGS

    embed(["a"])
    a = attrs(only(spans))
    assert a[IN] == 24
    assert OUT not in a


# --- streams -------------------------------------------------------------------------


def openai_chunks() -> list[Any]:
    base = {"id": "chatcmpl-9", "model": "gpt-4o-2024-08-06", "object": "chat.completion.chunk"}
    return ns(
        [
            {
                **base,
                "choices": [
                    {"delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}
                ],
                "usage": None,
            },
            {
                **base,
                "choices": [{"delta": {"content": "lo"}, "finish_reason": None}],
                "usage": None,
            },
            {**base, "choices": [{"delta": {}, "finish_reason": "stop"}], "usage": None},
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            },
        ]
    )


def anthropic_events() -> list[Any]:
    return ns(
        [
            {
                "type": "message_start",
                "message": {
                    "id": "msg_9",
                    "model": "claude-sonnet-4",
                    "usage": {
                        "input_tokens": 10,
                        "cache_read_input_tokens": 20,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
            {"type": "content_block_start", "index": 0},
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi "}},
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "there"}},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 15},
            },
            {"type": "message_stop"},
        ]
    )


def test_streamed_openai_chunks_pick_up_final_usage(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="gpt-4o", provider="openai")
    def stream(messages: list[dict[str, str]]) -> Iterator[Any]:
        yield from openai_chunks()

    assert len(list(stream([{"role": "user", "content": "hi"}]))) == 4
    a = attrs(only(spans))
    assert a[semconv.SPANLINK_OUTPUT_CHUNKS] == 4
    assert (a[IN], a[OUT], a[CACHE_READ]) == (12, 2, 0)
    assert a[RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert a[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-9"
    assert a[FINISH] == ("stop",)
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello"}],
            "finish_reason": "stop",
        }
    ]


async def test_streamed_anthropic_events_async(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="claude-sonnet-4", provider="anthropic")
    async def stream(messages: list[dict[str, str]]) -> AsyncIterator[Any]:
        for event in anthropic_events():
            yield event

    assert len([e async for e in stream([{"role": "user", "content": "hi"}])]) == 6
    a = attrs(only(spans))
    assert (a[IN], a[CACHE_READ], a[OUT]) == (30, 20, 15)
    assert a[FINISH] == ("end_turn",)
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": "Hi there"}
    ]


def test_streamed_responses_api_events() -> None:
    acc = StreamAccumulator()
    for event in ns(
        [
            {"type": "response.created", "response": {"id": "resp_1"}},
            {"type": "response.output_text.delta", "delta": "Hi"},
            {"type": "response.completed", "response": OPENAI_RESPONSES},
        ]
    ):
        acc.feed(event)
    got = acc.attributes()
    assert (got[IN], got[CACHE_READ], got[OUT]) == (800, 200, 90)
    assert (acc.messages() or [{}])[0]["parts"][0] == {"type": "text", "content": "Hi"}


def test_stream_without_usage_records_no_tokens(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="gpt-4o")
    def stream() -> Iterator[str]:
        yield "Hel"
        yield "lo"

    assert "".join(stream()) == "Hello"
    a = attrs(only(spans))
    assert IN not in a and OUT not in a
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": "Hello"}
    ]


def test_accumulator_ignores_garbage() -> None:
    acc = StreamAccumulator()
    for chunk in (None, 5, b"x", object(), {"type": 3}, {"choices": "bad"}):
        acc.feed(chunk)
    assert acc.attributes() == {}
    assert acc.messages() is None


# --- set_llm_usage / current_observation ---------------------------------------------


def test_set_llm_usage_on_the_current_span(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="my-model", provider="custom")
    def call() -> str:
        assert set_llm_usage(
            input_tokens=10,
            output_tokens=5,
            cache_read_input_tokens=2,
            cache_creation_input_tokens=1,
            reasoning_output_tokens=3,
            response_model="my-model-v2",
            finish_reasons="stop",
            response_id="r-1",
        )
        return "text"

    call()
    a = attrs(only(spans))
    assert (a[IN], a[OUT], a[CACHE_READ], a[CACHE_CREATION], a[REASONING]) == (10, 5, 2, 1, 3)
    assert a[RESPONSE_MODEL] == "my-model-v2"
    assert a[FINISH] == ("stop",)
    assert a[semconv.GEN_AI_RESPONSE_ID] == "r-1"


def test_explicit_usage_wins_over_the_response(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="gpt-4o")
    def call() -> Any:
        set_llm_usage(input_tokens=1, response_model="explicit")
        return OPENAI_CHAT

    call()
    a = attrs(only(spans))
    assert a[IN] == 1
    assert a[RESPONSE_MODEL] == "explicit"
    assert a[OUT] == 500  # not set explicitly: read from the response


def test_set_llm_usage_outside_a_span_records_nothing(spans: InMemorySpanExporter) -> None:
    assert set_llm_usage(input_tokens=3) is False
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"input_tokens": "10"}, TypeError),
        ({"output_tokens": 1.5}, TypeError),
        ({"input_tokens": True}, TypeError),
        ({"cache_read_input_tokens": -1}, ValueError),
        ({"model": 4}, TypeError),
        ({"finish_reasons": [1]}, TypeError),
    ],
)
def test_set_llm_usage_rejects_bad_values_and_records_nothing(
    spans: InMemorySpanExporter, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    @observe
    def call() -> None:
        with pytest.raises(error):
            set_llm_usage(output_tokens=9, **kwargs)

    call()
    assert OUT not in attrs(only(spans))


def test_current_observation_update(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="m")
    def call(prompt: str) -> str:
        obs = current_observation()
        assert isinstance(obs, Observation) and obs.is_recording()
        obs.update(
            input={"prompt": "masked by hand"},
            output="final answer",
            input_tokens=4,
            output_tokens=2,
            input_messages=[{"role": "user", "content": "hi"}],
            output_messages=[{"role": "assistant", "content": "yo"}],
            attributes={"app.step": 2},
        ).set_attribute("app.flag", True)
        return "raw answer"

    assert call("secret prompt") == "raw answer"
    a = attrs(only(spans))
    assert json.loads(a[semconv.SPANLINK_INPUT]) == {"prompt": "masked by hand"}
    # The explicit output wins over the captured return value.
    assert json.loads(a[semconv.SPANLINK_OUTPUT]) == "final answer"
    assert (a[IN], a[OUT]) == (4, 2)
    assert json.loads(a[semconv.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "hi"
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["role"] == "assistant"
    assert a["app.step"] == 2
    assert a["app.flag"] is True


def test_current_observation_record_response(spans: InMemorySpanExporter) -> None:
    @observe
    def call() -> str:
        current_observation().record_response(ns(ANTHROPIC_MESSAGE))
        return "done"

    call()
    assert attrs(only(spans))[IN] == 450


def test_current_observation_outside_any_span_is_a_no_op(spans: InMemorySpanExporter) -> None:
    obs = current_observation()
    assert not obs.is_recording()
    obs.update(input_tokens=1, output="x").set_attribute("k", "v").record_response(OPENAI_CHAT)
    assert spans.get_finished_spans() == ()
    with pytest.raises(TypeError):
        obs.update(input_tokens="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        obs.set_attribute("", 1)


def test_system_prompt_arguments_become_system_instructions(spans: InMemorySpanExporter) -> None:
    @observe.llm(model="claude-sonnet-4", provider="anthropic")
    def anthropic_chat(messages: list[dict[str, str]], system: Any = None) -> str:
        return "ok"

    @observe.llm(model="gpt-4.1", provider="openai")
    def responses_call(input: str, instructions: str) -> str:
        return "ok"

    anthropic_chat(
        [{"role": "user", "content": "hi"}], system=[{"type": "text", "text": "Be brief."}]
    )
    responses_call("hi", instructions="Answer in French.")
    anthropic_chat([{"role": "user", "content": "hi"}])  # no system prompt: nothing recorded
    first, second, third = (attrs(s) for s in spans.get_finished_spans())
    assert json.loads(first[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json.loads(second[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "Answer in French."}
    ]
    assert semconv.GEN_AI_SYSTEM_INSTRUCTIONS not in third


def test_model_learnt_inside_the_call_completes_the_span_name(spans: InMemorySpanExporter) -> None:
    @observe.llm(provider="openai")
    def chat(prompt: str) -> str:
        set_llm_usage(model="gpt-4o-mini", input_tokens=1)
        return "ok"

    @observe.embedding()
    def embed(text: str) -> list[float]:
        current_observation().update(model="text-embedding-3-large")
        return [0.0]

    @observe.llm(model="fixed")
    def named(prompt: str) -> str:
        set_llm_usage(model="other")  # the span already has its model name: kept
        return "ok"

    chat("x")
    embed("x")
    named("x")
    first, second, third = spans.get_finished_spans()
    assert first.name == "chat gpt-4o-mini"
    assert attrs(first)[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert second.name == "embeddings text-embedding-3-large"
    assert third.name == "chat fixed"
