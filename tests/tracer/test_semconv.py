"""normalize(): each source convention mapped onto the GenAI names, originals kept."""

from __future__ import annotations

import json
import warnings

import pytest

from spanlink.tracer import semconv
from spanlink.tracer.semconv import normalize

# What openinference-instrumentation-openai emits for one chat call
OPENINFERENCE_CHAT = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.invocation_parameters": json.dumps({"model": "gpt-4o", "temperature": 0}),
    "llm.token_count.prompt": 1000,
    "llm.token_count.completion": 500,
    "llm.token_count.total": 1500,
    "llm.token_count.prompt_details.cache_read": 400,
    "llm.token_count.prompt_details.audio": 0,
    "llm.token_count.completion_details.reasoning": 0,
    "llm.token_count.completion_details.audio": 0,
    "input.value": '{"messages": []}',
    "input.mime_type": "application/json",
    "output.value": '{"choices": []}',
    "output.mime_type": "application/json",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "be brief",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "hi",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "hello",
    "llm.finish_reason": "stop",
}


def test_openinference_chat() -> None:
    out = normalize(OPENINFERENCE_CHAT)
    for key, value in OPENINFERENCE_CHAT.items():
        assert out[key] == value  # originals kept
    assert out[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert out[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert out[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"  # from invocation parameters
    assert out[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert out[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert out[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 500
    assert out[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 400
    assert out[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 0
    assert out[semconv.TOTAL_TOKENS] == 1500
    assert out[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert out[semconv.SPANLINK_INPUT] == '{"messages": []}'
    assert out[semconv.SPANLINK_OUTPUT] == '{"choices": []}'
    assert json.loads(out[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert json.loads(out[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}
    ]
    assert out[semconv.SPANLINK_SOURCE_CONVENTION] == "openinference"


def test_openinference_request_model_falls_back_to_model_name() -> None:
    out = normalize({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"})
    assert out[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"


def test_openinference_embeddings() -> None:
    out = normalize(
        {
            "openinference.span.kind": "EMBEDDING",
            "llm.system": "openai",
            "embedding.model_name": "text-embedding-3-small",
            "llm.token_count.prompt": 24,
            "llm.token_count.total": 24,
        }
    )
    assert out[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert out[semconv.GEN_AI_REQUEST_MODEL] == "text-embedding-3-small"
    assert out[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert out[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 24


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("TOOL", semconv.GEN_AI_OPERATION_NAME, "execute_tool"),
        ("AGENT", semconv.GEN_AI_OPERATION_NAME, "invoke_agent"),
        ("RETRIEVER", semconv.GEN_AI_OPERATION_NAME, "retrieval"),
        ("RERANKER", semconv.SPANLINK_KIND, "rerank"),
        ("GUARDRAIL", semconv.SPANLINK_KIND, "guardrail"),
        ("EVALUATOR", semconv.SPANLINK_KIND, "evaluation"),
        ("CHAIN", semconv.SPANLINK_KIND, "chain"),
    ],
)
def test_openinference_span_kinds(kind: str, key: str, value: str) -> None:
    assert normalize({"openinference.span.kind": kind})[key] == value


def test_openllmetry_current_chat_is_already_genai() -> None:
    attributes = {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.total_tokens": 1500,
        "gen_ai.usage.cache_read.input_tokens": 400,
        "gen_ai.usage.reasoning_tokens": 0,
        "gen_ai.is_streaming": False,
    }
    out = normalize(attributes)
    assert out[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 0
    assert out[semconv.GEN_AI_REQUEST_STREAM] is False
    for key, value in attributes.items():
        assert out[key] == value


def test_openllmetry_legacy() -> None:
    out = normalize(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 7,
            "llm.usage.total_tokens": 19,
            "llm.request.type": "completion",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "yo",
        }
    )
    assert out[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert out[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert out[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert out[semconv.TOTAL_TOKENS] == 19
    assert out[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert json.loads(out[semconv.GEN_AI_INPUT_MESSAGES])[0]["role"] == "user"
    assert json.loads(out[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "yo"
    assert out[semconv.SPANLINK_SOURCE_CONVENTION] == "openllmetry"


def test_ai_style() -> None:
    out = normalize(
        {
            "ai.operation.type": "llm.invoke",
            "ai.model.name": "gpt-4o",
            "ai.model.provider": "openai",
            "ai.llm.tokens.input": 100,
            "ai.llm.tokens.output": "40",
        }
    )
    assert out[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert out[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert out[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert out[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert out[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 40  # numeric strings become ints
    assert out[semconv.SPANLINK_SOURCE_CONVENTION] == "ai"
    assert normalize({"ai.operation.type": "tool.invoke"})[semconv.GEN_AI_OPERATION_NAME] == (
        "execute_tool"
    )


def test_existing_genai_values_win_and_input_is_not_mutated() -> None:
    attributes = {"llm.model_name": "other", "gen_ai.request.model": "mine"}
    snapshot = dict(attributes)
    out = normalize(attributes)
    assert out["gen_ai.request.model"] == "mine"
    assert attributes == snapshot


def test_genai_only_spans_pass_through_unchanged() -> None:
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "x": 1}
    assert normalize(attributes) == attributes


def test_malformed_values_do_not_raise() -> None:
    out = normalize(
        {
            "llm.invocation_parameters": "{not json",
            "llm.token_count.prompt": "many",
            "openinference.span.kind": 3,
            "llm.input_messages.x.message.role": "user",
        }
    )
    # A value that is no token count stays under its own name and is not mapped.
    assert out["llm.token_count.prompt"] == "many"
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in out
    assert semconv.GEN_AI_INPUT_MESSAGES not in out


def test_mapping_table_targets_are_known_names() -> None:
    known = {getattr(semconv, name) for name in semconv.__all__ if name.isupper()}
    for row in semconv.normalize.__globals__["MAPPINGS"]:
        assert row.target in known, row


def test_our_constants_never_touch_deprecated_semconv() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalize(OPENINFERENCE_CHAT)
        assert semconv.GEN_AI_OPERATION_NAME == "gen_ai.operation.name"
