"""Map the conventions instrumentations actually emit onto the GenAI names spanlink reads.

``normalize`` is a pure function: it returns a new dict holding every original attribute
plus the GenAI/spanlink equivalent of each one it recognises. An attribute already present
under the target name always wins, so spans that follow the GenAI conventions pass
through unchanged. Both the receiver (at ingest) and in-process plugins call it, so a
plugin only ever reads one convention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from spanlink.tracer.semconv import attributes as a

__all__ = ["MAPPINGS", "TOTAL_TOKENS", "AttributeMapping", "normalize"]

#: Not in the GenAI spec, but emitted by OpenLLMetry; totals from other conventions land here.
TOTAL_TOKENS = "gen_ai.usage.total_tokens"

OPENINFERENCE = "openinference"
OPENLLMETRY = "openllmetry"
AI_STYLE = "ai"


def _as_int(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else [value]


_OPENINFERENCE_KINDS: dict[str, tuple[str, str]] = {
    "LLM": (a.GEN_AI_OPERATION_NAME, a.OP_CHAT),
    "EMBEDDING": (a.GEN_AI_OPERATION_NAME, a.OP_EMBEDDINGS),
    "TOOL": (a.GEN_AI_OPERATION_NAME, a.OP_EXECUTE_TOOL),
    "AGENT": (a.GEN_AI_OPERATION_NAME, a.OP_INVOKE_AGENT),
    "RETRIEVER": (a.GEN_AI_OPERATION_NAME, a.OP_RETRIEVAL),
    "RERANKER": (a.SPANLINK_KIND, a.KIND_RERANK),
    "GUARDRAIL": (a.SPANLINK_KIND, a.KIND_GUARDRAIL),
    "EVALUATOR": (a.SPANLINK_KIND, a.KIND_EVALUATION),
    "CHAIN": (a.SPANLINK_KIND, a.KIND_CHAIN),
}

_AI_OPERATION_TYPES: dict[str, tuple[str, str]] = {
    "llm.invoke": (a.GEN_AI_OPERATION_NAME, a.OP_CHAT),
    "llm": (a.GEN_AI_OPERATION_NAME, a.OP_CHAT),
    "embedding.generate": (a.GEN_AI_OPERATION_NAME, a.OP_EMBEDDINGS),
    "embedding.create": (a.GEN_AI_OPERATION_NAME, a.OP_EMBEDDINGS),
    "embedding": (a.GEN_AI_OPERATION_NAME, a.OP_EMBEDDINGS),
    "tool.invoke": (a.GEN_AI_OPERATION_NAME, a.OP_EXECUTE_TOOL),
    "tool": (a.GEN_AI_OPERATION_NAME, a.OP_EXECUTE_TOOL),
    "agent.invoke": (a.GEN_AI_OPERATION_NAME, a.OP_INVOKE_AGENT),
    "agent": (a.GEN_AI_OPERATION_NAME, a.OP_INVOKE_AGENT),
    "retrieval": (a.GEN_AI_OPERATION_NAME, a.OP_RETRIEVAL),
    "rerank": (a.SPANLINK_KIND, a.KIND_RERANK),
    "guardrail": (a.SPANLINK_KIND, a.KIND_GUARDRAIL),
    "evaluation": (a.SPANLINK_KIND, a.KIND_EVALUATION),
    "transform": (a.SPANLINK_KIND, a.KIND_TRANSFORM),
    "chain": (a.SPANLINK_KIND, a.KIND_CHAIN),
}


class AttributeMapping(NamedTuple):
    """One row of the table: ``source`` attribute maps onto ``target`` via ``convert``."""

    convention: str
    source: str
    target: str
    convert: Callable[[Any], Any] | None = None


# One mapping per line. Order matters only between rows with the same target: the first
# source present wins (e.g. OpenInference's ``llm.provider`` before ``llm.system``).
MAPPINGS: tuple[AttributeMapping, ...] = (
    # OpenInference (openinference-instrumentation-*)
    AttributeMapping(OPENINFERENCE, "llm.model_name", a.GEN_AI_RESPONSE_MODEL),
    AttributeMapping(OPENINFERENCE, "llm.model_name", a.GEN_AI_REQUEST_MODEL),
    AttributeMapping(OPENINFERENCE, "embedding.model_name", a.GEN_AI_REQUEST_MODEL),
    AttributeMapping(OPENINFERENCE, "embedding.model_name", a.GEN_AI_RESPONSE_MODEL),
    AttributeMapping(OPENINFERENCE, "llm.provider", a.GEN_AI_PROVIDER_NAME),
    AttributeMapping(OPENINFERENCE, "llm.system", a.GEN_AI_PROVIDER_NAME),
    AttributeMapping(OPENINFERENCE, "llm.token_count.prompt", a.GEN_AI_USAGE_INPUT_TOKENS, _as_int),
    AttributeMapping(
        OPENINFERENCE, "llm.token_count.completion", a.GEN_AI_USAGE_OUTPUT_TOKENS, _as_int
    ),
    AttributeMapping(OPENINFERENCE, "llm.token_count.total", TOTAL_TOKENS, _as_int),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.prompt_details.cache_read",
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.prompt_details.cache_write",
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.completion_details.reasoning",
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(
        OPENINFERENCE, "llm.finish_reason", a.GEN_AI_RESPONSE_FINISH_REASONS, _as_list
    ),
    AttributeMapping(OPENINFERENCE, "input.value", a.SPANLINK_INPUT),
    AttributeMapping(OPENINFERENCE, "output.value", a.SPANLINK_OUTPUT),
    AttributeMapping(OPENINFERENCE, "tool.name", a.GEN_AI_TOOL_NAME),
    AttributeMapping(OPENINFERENCE, "tool.description", a.GEN_AI_TOOL_DESCRIPTION),
    AttributeMapping(OPENINFERENCE, "agent.name", a.GEN_AI_AGENT_NAME),
    # OpenLLMetry (opentelemetry-instrumentation-*, legacy and current spellings)
    AttributeMapping(OPENLLMETRY, "gen_ai.system", a.GEN_AI_PROVIDER_NAME),
    AttributeMapping(
        OPENLLMETRY, "gen_ai.usage.prompt_tokens", a.GEN_AI_USAGE_INPUT_TOKENS, _as_int
    ),
    AttributeMapping(
        OPENLLMETRY, "gen_ai.usage.completion_tokens", a.GEN_AI_USAGE_OUTPUT_TOKENS, _as_int
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.reasoning_tokens",
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.cache_read_input_tokens",
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.cache_creation_input_tokens",
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        _as_int,
    ),
    AttributeMapping(OPENLLMETRY, "llm.usage.total_tokens", TOTAL_TOKENS, _as_int),
    AttributeMapping(OPENLLMETRY, "llm.request.type", a.GEN_AI_OPERATION_NAME),
    AttributeMapping(OPENLLMETRY, "llm.is_streaming", a.GEN_AI_REQUEST_STREAM),
    AttributeMapping(OPENLLMETRY, "gen_ai.is_streaming", a.GEN_AI_REQUEST_STREAM),
    # The reference design's ai.* style
    AttributeMapping(AI_STYLE, "ai.model.name", a.GEN_AI_REQUEST_MODEL),
    AttributeMapping(AI_STYLE, "ai.embedding.model", a.GEN_AI_REQUEST_MODEL),
    AttributeMapping(AI_STYLE, "ai.model.provider", a.GEN_AI_PROVIDER_NAME),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.input", a.GEN_AI_USAGE_INPUT_TOKENS, _as_int),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.output", a.GEN_AI_USAGE_OUTPUT_TOKENS, _as_int),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.total", TOTAL_TOKENS, _as_int),
    AttributeMapping(AI_STYLE, "ai.llm.temperature", a.GEN_AI_REQUEST_TEMPERATURE),
    AttributeMapping(AI_STYLE, "ai.llm.max_tokens", a.GEN_AI_REQUEST_MAX_TOKENS, _as_int),
    AttributeMapping(AI_STYLE, "ai.tool.name", a.GEN_AI_TOOL_NAME),
    AttributeMapping(AI_STYLE, "ai.agent.name", a.GEN_AI_AGENT_NAME),
    AttributeMapping(AI_STYLE, "ai.retrieval.query", a.GEN_AI_RETRIEVAL_QUERY_TEXT),
    AttributeMapping(AI_STYLE, "ai.prompt", a.SPANLINK_INPUT),
    AttributeMapping(AI_STYLE, "ai.completion", a.SPANLINK_OUTPUT),
)

# OpenLLMetry's ``llm.request.type`` speaks of "completion" where the spec says text_completion.
_OPENLLMETRY_REQUEST_TYPES = {
    "chat": a.OP_CHAT,
    "completion": a.OP_TEXT_COMPLETION,
    "embedding": a.OP_EMBEDDINGS,
    "rerank": None,
}

# llm.input_messages.0.message.role / gen_ai.prompt.0.content (OpenInference / OpenLLMetry legacy)
_INDEXED_MESSAGE = re.compile(
    r"^(?P<prefix>llm\.input_messages|llm\.output_messages|gen_ai\.prompt|gen_ai\.completion)"
    r"\.(?P<index>\d+)\.(?:message\.)?(?P<field>role|content)$"
)
_MESSAGE_TARGETS = {
    "llm.input_messages": (OPENINFERENCE, a.GEN_AI_INPUT_MESSAGES),
    "llm.output_messages": (OPENINFERENCE, a.GEN_AI_OUTPUT_MESSAGES),
    "gen_ai.prompt": (OPENLLMETRY, a.GEN_AI_INPUT_MESSAGES),
    "gen_ai.completion": (OPENLLMETRY, a.GEN_AI_OUTPUT_MESSAGES),
}


def _indexed_messages(attributes: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Fold flattened ``<prefix>.<i>.role|content`` attributes into GenAI message JSON."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attributes.items():
        match = _INDEXED_MESSAGE.match(key)
        if match is None:
            continue
        by_index = found.setdefault(match["prefix"], {})
        by_index.setdefault(int(match["index"]), {})[match["field"]] = value
    result: dict[str, tuple[str, str]] = {}
    for prefix, by_index in found.items():
        convention, target = _MESSAGE_TARGETS[prefix]
        messages = []
        for index in sorted(by_index):
            fields = by_index[index]
            message: dict[str, Any] = {"role": fields.get("role", "user"), "parts": []}
            if "content" in fields:
                message["parts"].append({"type": "text", "content": fields["content"]})
            messages.append(message)
        result[target] = (convention, json.dumps(messages, ensure_ascii=False))
    return result


def _requested_model(attributes: Mapping[str, Any]) -> str | None:
    """OpenInference keeps the requested model only inside ``llm.invocation_parameters``."""
    raw = attributes.get("llm.invocation_parameters")
    if not isinstance(raw, str):
        return None
    try:
        parameters = json.loads(raw)
    except ValueError:
        return None
    model = parameters.get("model") if isinstance(parameters, dict) else None
    return model if isinstance(model, str) else None


def normalize(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``attributes`` with GenAI/spanlink names added for known conventions.

    The original attributes are kept untouched; a target attribute that is already set is
    never overwritten. When anything was mapped, ``spanlink.source_convention`` names the
    convention(s) it came from (comma-separated, sorted).
    """
    result = dict(attributes)
    conventions: set[str] = set()

    def put(convention: str, target: str, value: Any) -> None:
        if target not in result and value is not None:
            result[target] = value
            conventions.add(convention)

    requested = _requested_model(attributes)
    if requested is not None:
        put(OPENINFERENCE, a.GEN_AI_REQUEST_MODEL, requested)

    for row in MAPPINGS:
        if row.source in attributes:
            value = attributes[row.source]
            put(row.convention, row.target, row.convert(value) if row.convert else value)

    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        put(OPENINFERENCE, *_OPENINFERENCE_KINDS[kind.upper()])
    op_type = attributes.get("ai.operation.type")
    if isinstance(op_type, str) and op_type in _AI_OPERATION_TYPES:
        put(AI_STYLE, *_AI_OPERATION_TYPES[op_type])
    # llm.request.type was copied verbatim above when present; translate its vocabulary.
    request_type = attributes.get("llm.request.type")
    if result.get(a.GEN_AI_OPERATION_NAME) == request_type and request_type in (
        _OPENLLMETRY_REQUEST_TYPES
    ):
        translated = _OPENLLMETRY_REQUEST_TYPES[request_type]
        if translated is None:
            del result[a.GEN_AI_OPERATION_NAME]
            result.setdefault(a.SPANLINK_KIND, a.KIND_RERANK)
        else:
            result[a.GEN_AI_OPERATION_NAME] = translated

    for target, (convention, messages) in _indexed_messages(attributes).items():
        put(convention, target, messages)

    if conventions and a.SPANLINK_SOURCE_CONVENTION not in attributes:
        result[a.SPANLINK_SOURCE_CONVENTION] = ",".join(sorted(conventions))
    return result
