"""Map the conventions instrumentations actually emit onto the GenAI names spanlink reads.

``normalize`` is a pure function: it returns a new dict holding every original attribute
plus the GenAI/spanlink equivalent of each one it recognises. An attribute already present
under the target name always wins, so spans that follow the GenAI conventions pass
through unchanged. Both the receiver (at ingest) and in-process plugins call it, so a
plugin only ever reads one convention.
"""

from __future__ import annotations

import json
import math
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


# Converters: each returns the value in the target's type, or None when the source value
# does not fit it (then nothing is mapped and the original stays as it is). They accept
# every OTLP value type (str, bool, int of any size, float incl. nan/inf, bytes, arrays,
# kvlists as dicts, None) and never raise: normalize runs at ingest on untrusted input,
# and a value copied verbatim into a GenAI name would make every consumer of that name
# handle every type (a list model name, a dict operation name).


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    """A token count: an int, an integral float or a decimal string (not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # False for nan and inf
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:  # not a number, or past int()'s digit limit
            return None
    return None


def _number(value: Any) -> float | None:
    """A finite number (an int, a float or a numeric string; not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except (ValueError, OverflowError):  # not numeric, or an int past float's range
            return None
        return number if math.isfinite(number) else None
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _text_list(value: Any) -> list[str] | None:
    """One string or an array of strings (the SDK hands arrays over as tuples)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _invocation_model(value: Any) -> str | None:
    """OpenInference keeps the requested model only inside ``llm.invocation_parameters``."""
    parameters = value
    if isinstance(value, str):
        try:
            parameters = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return None
    model = parameters.get("model") if isinstance(parameters, Mapping) else None
    return model if isinstance(model, str) else None


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


# OpenLLMetry's ``llm.request.type`` speaks of "completion" where the spec says
# text_completion, and of "rerank", which the spec has no operation for.
_OPENLLMETRY_REQUEST_TYPES: dict[str, tuple[str, str]] = {
    "chat": (a.GEN_AI_OPERATION_NAME, a.OP_CHAT),
    "completion": (a.GEN_AI_OPERATION_NAME, a.OP_TEXT_COMPLETION),
    "embedding": (a.GEN_AI_OPERATION_NAME, a.OP_EMBEDDINGS),
    "rerank": (a.SPANLINK_KIND, a.KIND_RERANK),
}


def _kind(
    table: Mapping[str, tuple[str, str]], target: str, *, fold: bool = False, other: bool = False
) -> Callable[[Any], str | None]:
    """A converter looking a string value up in ``table``, for the rows that map onto ``target``.

    ``fold`` compares upper-cased; ``other`` passes a string the table does not know
    through unchanged (an operation name spanlink has no translation for).
    """

    def convert(value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        found = table.get(value.upper() if fold else value)
        if found is None:
            return value if other else None
        return found[1] if found[0] == target else None

    return convert


class AttributeMapping(NamedTuple):
    """One row of the table: ``source`` attribute maps onto ``target`` via ``convert``.

    ``convert`` returns the value in the target's type, or None when the source value does
    not fit it (then nothing is mapped); None as ``convert`` copies the value as it is.
    """

    convention: str
    source: str
    target: str
    convert: Callable[[Any], Any] | None = None


_OI_KIND = "openinference.span.kind"
_AI_KIND = "ai.operation.type"
_REQUEST_TYPE = "llm.request.type"

# One mapping per line. Order matters only between rows with the same target: the first
# source present wins (e.g. OpenInference's ``llm.provider`` before ``llm.system``).
MAPPINGS: tuple[AttributeMapping, ...] = (
    # OpenInference (openinference-instrumentation-*)
    AttributeMapping(
        OPENINFERENCE, "llm.invocation_parameters", a.GEN_AI_REQUEST_MODEL, _invocation_model
    ),
    AttributeMapping(OPENINFERENCE, "llm.model_name", a.GEN_AI_RESPONSE_MODEL, _text),
    AttributeMapping(OPENINFERENCE, "llm.model_name", a.GEN_AI_REQUEST_MODEL, _text),
    AttributeMapping(OPENINFERENCE, "embedding.model_name", a.GEN_AI_REQUEST_MODEL, _text),
    AttributeMapping(OPENINFERENCE, "embedding.model_name", a.GEN_AI_RESPONSE_MODEL, _text),
    AttributeMapping(OPENINFERENCE, "llm.provider", a.GEN_AI_PROVIDER_NAME, _text),
    AttributeMapping(OPENINFERENCE, "llm.system", a.GEN_AI_PROVIDER_NAME, _text),
    AttributeMapping(OPENINFERENCE, "llm.token_count.prompt", a.GEN_AI_USAGE_INPUT_TOKENS, _count),
    AttributeMapping(
        OPENINFERENCE, "llm.token_count.completion", a.GEN_AI_USAGE_OUTPUT_TOKENS, _count
    ),
    AttributeMapping(OPENINFERENCE, "llm.token_count.total", TOTAL_TOKENS, _count),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.prompt_details.cache_read",
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        _count,
    ),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.prompt_details.cache_write",
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        _count,
    ),
    AttributeMapping(
        OPENINFERENCE,
        "llm.token_count.completion_details.reasoning",
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        _count,
    ),
    AttributeMapping(
        OPENINFERENCE, "llm.finish_reason", a.GEN_AI_RESPONSE_FINISH_REASONS, _text_list
    ),
    AttributeMapping(OPENINFERENCE, "input.value", a.SPANLINK_INPUT, _text),
    AttributeMapping(OPENINFERENCE, "output.value", a.SPANLINK_OUTPUT, _text),
    AttributeMapping(OPENINFERENCE, "tool.name", a.GEN_AI_TOOL_NAME, _text),
    AttributeMapping(OPENINFERENCE, "tool.description", a.GEN_AI_TOOL_DESCRIPTION, _text),
    AttributeMapping(OPENINFERENCE, "agent.name", a.GEN_AI_AGENT_NAME, _text),
    # OpenLLMetry (opentelemetry-instrumentation-*, legacy and current spellings)
    AttributeMapping(OPENLLMETRY, "gen_ai.system", a.GEN_AI_PROVIDER_NAME, _text),
    AttributeMapping(
        OPENLLMETRY, "gen_ai.usage.prompt_tokens", a.GEN_AI_USAGE_INPUT_TOKENS, _count
    ),
    AttributeMapping(
        OPENLLMETRY, "gen_ai.usage.completion_tokens", a.GEN_AI_USAGE_OUTPUT_TOKENS, _count
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.reasoning_tokens",
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        _count,
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.cache_read_input_tokens",
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        _count,
    ),
    AttributeMapping(
        OPENLLMETRY,
        "gen_ai.usage.cache_creation_input_tokens",
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        _count,
    ),
    AttributeMapping(OPENLLMETRY, "llm.usage.total_tokens", TOTAL_TOKENS, _count),
    AttributeMapping(
        OPENLLMETRY,
        _REQUEST_TYPE,
        a.GEN_AI_OPERATION_NAME,
        _kind(_OPENLLMETRY_REQUEST_TYPES, a.GEN_AI_OPERATION_NAME, other=True),
    ),
    AttributeMapping(
        OPENLLMETRY,
        _REQUEST_TYPE,
        a.SPANLINK_KIND,
        _kind(_OPENLLMETRY_REQUEST_TYPES, a.SPANLINK_KIND),
    ),
    AttributeMapping(OPENLLMETRY, "llm.is_streaming", a.GEN_AI_REQUEST_STREAM, _flag),
    AttributeMapping(OPENLLMETRY, "gen_ai.is_streaming", a.GEN_AI_REQUEST_STREAM, _flag),
    # The reference design's ai.* style
    AttributeMapping(AI_STYLE, "ai.model.name", a.GEN_AI_REQUEST_MODEL, _text),
    AttributeMapping(AI_STYLE, "ai.embedding.model", a.GEN_AI_REQUEST_MODEL, _text),
    AttributeMapping(AI_STYLE, "ai.model.provider", a.GEN_AI_PROVIDER_NAME, _text),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.input", a.GEN_AI_USAGE_INPUT_TOKENS, _count),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.output", a.GEN_AI_USAGE_OUTPUT_TOKENS, _count),
    AttributeMapping(AI_STYLE, "ai.llm.tokens.total", TOTAL_TOKENS, _count),
    AttributeMapping(AI_STYLE, "ai.llm.temperature", a.GEN_AI_REQUEST_TEMPERATURE, _number),
    AttributeMapping(AI_STYLE, "ai.llm.max_tokens", a.GEN_AI_REQUEST_MAX_TOKENS, _count),
    AttributeMapping(AI_STYLE, "ai.tool.name", a.GEN_AI_TOOL_NAME, _text),
    AttributeMapping(AI_STYLE, "ai.agent.name", a.GEN_AI_AGENT_NAME, _text),
    AttributeMapping(AI_STYLE, "ai.retrieval.query", a.GEN_AI_RETRIEVAL_QUERY_TEXT, _text),
    AttributeMapping(AI_STYLE, "ai.prompt", a.SPANLINK_INPUT, _text),
    AttributeMapping(AI_STYLE, "ai.completion", a.SPANLINK_OUTPUT, _text),
    # Span kinds, after the rows above so an explicit operation name wins.
    AttributeMapping(
        OPENINFERENCE,
        _OI_KIND,
        a.GEN_AI_OPERATION_NAME,
        _kind(_OPENINFERENCE_KINDS, a.GEN_AI_OPERATION_NAME, fold=True),
    ),
    AttributeMapping(
        OPENINFERENCE,
        _OI_KIND,
        a.SPANLINK_KIND,
        _kind(_OPENINFERENCE_KINDS, a.SPANLINK_KIND, fold=True),
    ),
    AttributeMapping(
        AI_STYLE,
        _AI_KIND,
        a.GEN_AI_OPERATION_NAME,
        _kind(_AI_OPERATION_TYPES, a.GEN_AI_OPERATION_NAME),
    ),
    AttributeMapping(
        AI_STYLE, _AI_KIND, a.SPANLINK_KIND, _kind(_AI_OPERATION_TYPES, a.SPANLINK_KIND)
    ),
)

# llm.input_messages.0.message.role / gen_ai.prompt.0.content (OpenInference / OpenLLMetry
# legacy). ASCII digits, at most nine: a longer index is no message list anyone emits, and
# int() refuses strings past its digit limit.
_INDEXED_MESSAGE = re.compile(
    r"^(?P<prefix>llm\.input_messages|llm\.output_messages|gen_ai\.prompt|gen_ai\.completion)"
    r"\.(?P<index>[0-9]{1,9})\.(?:message\.)?(?P<field>role|content)$"
)
_MESSAGE_TARGETS = {
    "llm.input_messages": (OPENINFERENCE, a.GEN_AI_INPUT_MESSAGES),
    "llm.output_messages": (OPENINFERENCE, a.GEN_AI_OUTPUT_MESSAGES),
    "gen_ai.prompt": (OPENLLMETRY, a.GEN_AI_INPUT_MESSAGES),
    "gen_ai.completion": (OPENLLMETRY, a.GEN_AI_OUTPUT_MESSAGES),
}
#: Nesting kept when a non-text message content is rendered as JSON text.
_MAX_CONTENT_DEPTH = 32


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as strict-JSON-safe data: bytes decoded, nan/inf as text, bounded nesting."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if depth >= _MAX_CONTENT_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    return str(value)


def _content_text(value: Any) -> str:
    """A message content as text: strings as they are, bytes decoded, anything else as JSON."""
    plain = _plain(value)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False, allow_nan=False)


def _indexed_messages(attributes: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Fold flattened ``<prefix>.<i>.role|content`` attributes into GenAI message JSON."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attributes.items():
        match = _INDEXED_MESSAGE.match(key) if isinstance(key, str) else None
        if match is None or value is None:
            continue
        by_index = found.setdefault(match["prefix"], {})
        by_index.setdefault(int(match["index"]), {})[match["field"]] = value
    result: dict[str, tuple[str, str]] = {}
    for prefix, by_index in found.items():
        convention, target = _MESSAGE_TARGETS[prefix]
        messages = []
        for index in sorted(by_index):
            fields = by_index[index]
            role = fields.get("role")
            message: dict[str, Any] = {
                "role": role if isinstance(role, str) else "user",
                "parts": [],
            }
            if "content" in fields:
                content = _content_text(fields["content"])
                message["parts"].append({"type": "text", "content": content})
            messages.append(message)
        result[target] = (convention, json.dumps(messages, ensure_ascii=False))
    return result


def normalize(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``attributes`` with GenAI/spanlink names added for known conventions.

    The original attributes are kept untouched; a target attribute that is already set is
    never overwritten. A source value that does not fit its target's type (an array where
    a model name belongs, a string that is no token count) is left where it is and not
    mapped. Total: any OTLP attribute value is accepted and nothing raises. When anything
    was mapped, ``spanlink.source_convention`` names the convention(s) it came from
    (comma-separated, sorted).
    """
    result = dict(attributes)
    conventions: set[str] = set()

    def put(convention: str, target: str, value: Any) -> None:
        if target not in result and value is not None:
            result[target] = value
            conventions.add(convention)

    for row in MAPPINGS:
        if row.source in attributes:
            value = attributes[row.source]
            put(row.convention, row.target, row.convert(value) if row.convert else value)

    for target, (convention, messages) in _indexed_messages(attributes).items():
        put(convention, target, messages)

    if conventions and a.SPANLINK_SOURCE_CONVENTION not in attributes:
        result[a.SPANLINK_SOURCE_CONVENTION] = ",".join(sorted(conventions))
    return result
