"""What the structural diff reads from one span: its alignment keys, model, tool, tokens, cost.

Attributes are read under the GenAI names, as the receiver stores them (normalized at
ingest). Content (messages, tool results, the ``spanlink.input``/``output`` of a span) is
only ever compared for equality and reported as a short hash, never as the text itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from spanlink.tracer.model import SpanRecord
from spanlink.tracer.semconv import attributes as a

__all__ = ["CONTENT_ATTRIBUTES", "Facets", "content_hash", "facets", "span_cost"]

#: Attributes holding content: compared by value, reported by hash.
CONTENT_ATTRIBUTES = (
    a.GEN_AI_INPUT_MESSAGES,
    a.GEN_AI_OUTPUT_MESSAGES,
    a.GEN_AI_SYSTEM_INSTRUCTIONS,
    a.GEN_AI_TOOL_CALL_RESULT,
    a.GEN_AI_RETRIEVAL_QUERY_TEXT,
    a.GEN_AI_RETRIEVAL_DOCUMENTS,
    a.SPANLINK_INPUT,
    a.SPANLINK_OUTPUT,
)
_NO_CONTENT: tuple[Any, ...] = (None,) * len(CONTENT_ATTRIBUTES)
_COST_PLUGIN = "cost"
# Module constants bound once: Facets is built for every span of both traces.
_OPERATION = a.GEN_AI_OPERATION_NAME
_KIND = a.SPANLINK_KIND
_TOOL = a.GEN_AI_TOOL_NAME
_REQUEST_MODEL = a.GEN_AI_REQUEST_MODEL
_RESPONSE_MODEL = a.GEN_AI_RESPONSE_MODEL
_FINISH = a.GEN_AI_RESPONSE_FINISH_REASONS
_ARGUMENTS = a.GEN_AI_TOOL_CALL_ARGUMENTS
_ERROR_TYPE = a.ERROR_TYPE
_INPUT_TOKENS = a.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = a.GEN_AI_USAGE_OUTPUT_TOKENS
_EXECUTE_TOOL = a.OP_EXECUTE_TOOL
_MODEL_OPERATIONS = a.MODEL_OPERATIONS


def content_hash(value: Any) -> str | None:
    """``sha256:`` and the first 16 hex digits of the value's canonical JSON; None for None."""
    if value is None:
        return None
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
    else:
        data = json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tokens(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def span_cost(results: Mapping[str, Any] | None) -> float | None:
    """The USD cost the ``cost`` plugin computed for a span (``{plugin: result}``), or None.

    None means unknown (no enrichment, an unknown model, no usage), never zero.
    """
    if not isinstance(results, Mapping):
        return None
    cost = results.get(_COST_PLUGIN)
    if not isinstance(cost, Mapping) or cost.get("status") != "ok":
        return None
    total = cost.get("total_cost")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return None
    return float(total)


class Facets:
    """One span as the diff sees it. ``key`` aligns strictly, ``loose_key`` as a fallback.

    A plain slotted class: one is built per span of both traces, on the diff's hot path.
    """

    __slots__ = (
        "content",
        "cost_usd",
        "error_type",
        "finish_reasons",
        "input_tokens",
        "is_model_call",
        "is_tool",
        "key",
        "kind",
        "model",
        "offset_ns",
        "output_tokens",
        "response_model",
        "span",
        "tool_arguments",
        "tool_name",
    )

    def __init__(self, span: SpanRecord, trace_start_ns: int, results: Any) -> None:
        attrs = span.attributes
        get = attrs.get
        operation = _text(get(_OPERATION)) or _text(get(_KIND))
        kind = operation or span.kind.lower()
        tool_name = _text(get(_TOOL))
        is_tool = operation == _EXECUTE_TOOL or tool_name is not None
        response_model = _text(get(_RESPONSE_MODEL))
        model = _text(get(_REQUEST_MODEL)) or response_model
        reasons = get(_FINISH)
        finish: tuple[str, ...] | None
        if isinstance(reasons, str):
            finish = (reasons,)
        elif isinstance(reasons, (list, tuple)):
            finish = tuple(str(reason) for reason in reasons)
        else:
            finish = None
        detail = (tool_name if is_tool else model) or ""
        self.span = span
        self.kind: str = kind
        self.key = (span.name, span.kind, kind, detail)
        self.model = model
        self.response_model = response_model
        self.tool_name = tool_name
        self.tool_arguments: Any = get(_ARGUMENTS)
        self.is_tool = is_tool
        self.is_model_call = operation in _MODEL_OPERATIONS or model is not None
        self.finish_reasons = finish
        self.error_type = _text(get(_ERROR_TYPE))
        self.input_tokens = _tokens(get(_INPUT_TOKENS))
        self.output_tokens = _tokens(get(_OUTPUT_TOKENS))
        self.cost_usd = span_cost(results) if results is not None else None
        self.offset_ns = max(0, span.start_time_unix_nano - trace_start_ns)
        #: Content values in ``CONTENT_ATTRIBUTES`` order, compared as one tuple; spans
        #: without content (most tool and step spans) share one, so nothing stays allocated.
        content = tuple(map(get, CONTENT_ATTRIBUTES))
        self.content: tuple[Any, ...] = _NO_CONTENT if content == _NO_CONTENT else content

    @property
    def loose_key(self) -> tuple[str, ...]:
        """``key`` without the model or tool name: built only for the spans left unmatched."""
        return self.key[:3]


def facets(span: SpanRecord, trace_start_ns: int, results: Mapping[str, Any] | None) -> Facets:
    """Read a span once; ``results`` is its enrichment (``{plugin: result}``) if known."""
    return Facets(span, trace_start_ns, results)
