"""LLM usage capture: tokens, models, finish reasons and messages on the current span.

Responses are read by duck typing (attributes or dict keys), so OpenAI and Anthropic SDK
objects, their ``model_dump()`` dicts and look-alikes from other clients all work without
depending on those SDKs. Supported shapes:

- OpenAI Chat Completions / Embeddings: ``usage.prompt_tokens`` (includes cached tokens),
  ``usage.completion_tokens``, ``usage.prompt_tokens_details.cached_tokens``,
  ``usage.completion_tokens_details.reasoning_tokens``, ``model``, ``id``,
  ``choices[].finish_reason``, ``choices[].message``.
- OpenAI Responses: ``usage.input_tokens`` (includes cached tokens),
  ``usage.input_tokens_details.cached_tokens``, ``usage.output_tokens``,
  ``usage.output_tokens_details.reasoning_tokens``, ``output[]``.
- Anthropic Messages: ``usage.input_tokens`` EXCLUDES cache reads and writes, so
  ``gen_ai.usage.input_tokens`` = input + cache read + cache creation, as the GenAI
  conventions define it; ``stop_reason``, ``content[]``.
- Streams of any of these (chunks / events), through :class:`StreamAccumulator`.

Reading a response never raises: a field of an unexpected type is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from spanlink.tracer import semconv

__all__ = [
    "StreamAccumulator",
    "apply_usage",
    "input_messages",
    "output_messages",
    "response_attributes",
    "set_llm_usage",
    "system_instructions",
    "usage_attributes",
]

_STREAM_TEXT_LIMIT: Final = 64 * 1024


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; None when absent or failing."""
    if obj is None:
        return None
    try:
        if isinstance(obj, Mapping):
            return obj.get(name)
        return getattr(obj, name, None)
    except Exception:
        return None


def _int(value: Any) -> int | None:
    """A token count, or None for anything that is not a non-negative int."""
    if type(value) is int and value >= 0:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _seq(value: Any) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        return value
    return ()


# --- explicit usage -----------------------------------------------------------------


def _check_tokens(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int token count, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_str(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def usage_attributes(
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read_input_tokens: int | None = None,
    cache_creation_input_tokens: int | None = None,
    reasoning_output_tokens: int | None = None,
    model: str | None = None,
    response_model: str | None = None,
    finish_reasons: str | Sequence[str] | None = None,
    response_id: str | None = None,
) -> dict[str, AttributeValue]:
    """Validate explicit usage values and return them as GenAI attributes (None = unset).

    ``input_tokens`` follows the GenAI conventions: it INCLUDES cached tokens (for
    Anthropic, add ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` to the
    API's ``input_tokens``). Raises ``TypeError``/``ValueError`` naming the bad argument.
    """
    attrs: dict[str, AttributeValue] = {}
    for key, name, value in (
        (semconv.GEN_AI_USAGE_INPUT_TOKENS, "input_tokens", input_tokens),
        (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, "output_tokens", output_tokens),
        (
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            "cache_read_input_tokens",
            cache_read_input_tokens,
        ),
        (
            semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
            "cache_creation_input_tokens",
            cache_creation_input_tokens,
        ),
        (
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
            "reasoning_output_tokens",
            reasoning_output_tokens,
        ),
    ):
        checked = _check_tokens(name, value)
        if checked is not None:
            attrs[key] = checked
    for key, name, text in (
        (semconv.GEN_AI_REQUEST_MODEL, "model", model),
        (semconv.GEN_AI_RESPONSE_MODEL, "response_model", response_model),
        (semconv.GEN_AI_RESPONSE_ID, "response_id", response_id),
    ):
        checked_text = _check_str(name, text)
        if checked_text is not None:
            attrs[key] = checked_text
    if finish_reasons is not None:
        reasons = [finish_reasons] if isinstance(finish_reasons, str) else finish_reasons
        if not isinstance(reasons, Sequence) or not all(isinstance(r, str) for r in reasons):
            raise TypeError("finish_reasons must be a str or a sequence of str")
        attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)
    return attrs


def set_llm_usage(
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read_input_tokens: int | None = None,
    cache_creation_input_tokens: int | None = None,
    reasoning_output_tokens: int | None = None,
    model: str | None = None,
    response_model: str | None = None,
    finish_reasons: str | Sequence[str] | None = None,
    response_id: str | None = None,
) -> bool:
    """Record token usage and model facts on the current span.

    Arguments left as None are not touched. Values set this way win over what
    ``@observe.llm`` reads from the returned response. Returns False (and records nothing)
    when no span is recording, e.g. outside any ``@observe`` function or when sampled out.
    See :func:`usage_attributes` for the meaning of each argument.
    """
    attrs = usage_attributes(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_input_tokens=cache_read_input_tokens,
        cache_creation_input_tokens=cache_creation_input_tokens,
        reasoning_output_tokens=reasoning_output_tokens,
        model=model,
        response_model=response_model,
        finish_reasons=finish_reasons,
        response_id=response_id,
    )
    span = trace.get_current_span()
    if not span.is_recording():
        return False
    apply_usage(span, attrs)
    return True


def apply_usage(span: trace.Span, attrs: Mapping[str, AttributeValue]) -> None:
    """Set usage attributes; a request model learnt late also completes the span name.

    An LLM span started without a model is named by its operation alone (``chat``); once
    the model is known it becomes ``chat <model>``, as the GenAI conventions name it.
    """
    span.set_attributes(attrs)
    model = attrs.get(semconv.GEN_AI_REQUEST_MODEL)
    name = getattr(span, "name", None)
    if isinstance(model, str) and name in semconv.MODEL_OPERATIONS:
        span.update_name(f"{name} {model}")


# --- responses ----------------------------------------------------------------------


def _usage_tokens(usage: Any, anthropic: bool) -> dict[str, AttributeValue]:
    """GenAI token attributes from a ``usage`` object of any supported shape."""
    attrs: dict[str, AttributeValue] = {}
    prompt = _int(_get(usage, "prompt_tokens"))
    if prompt is not None:  # OpenAI Chat Completions / Embeddings
        attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = prompt
        completion = _int(_get(usage, "completion_tokens"))
        if completion is not None:
            attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = completion
        cached = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
        reasoning = _int(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    else:
        input_tokens = _int(_get(usage, "input_tokens"))
        output = _int(_get(usage, "output_tokens"))
        if output is not None:
            attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output
        details = _get(usage, "input_tokens_details")
        if details is not None and not anthropic:  # OpenAI Responses: input includes cache
            cached = _int(_get(details, "cached_tokens"))
            if input_tokens is not None:
                attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        else:  # Anthropic: input excludes cache reads and writes
            cached = _int(_get(usage, "cache_read_input_tokens"))
            creation = _int(_get(usage, "cache_creation_input_tokens"))
            if creation is not None:
                attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = creation
            if input_tokens is not None:
                attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = (
                    input_tokens + (cached or 0) + (creation or 0)
                )
        reasoning = _int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))
    if cached is not None:
        attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    if reasoning is not None:
        attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    return attrs


def _looks_anthropic(response: Any) -> bool:
    return _get(response, "type") == "message" or _get(response, "stop_reason") is not None


def response_attributes(response: Any) -> dict[str, AttributeValue]:
    """GenAI attributes read from an LLM response of a supported shape; {} otherwise.

    Never raises. Only objects that look like a model response (they carry ``usage``,
    ``choices``, an Anthropic ``stop_reason`` or are a Responses-API ``response``) are read.
    """
    try:
        return _response_attributes(response)
    except Exception:
        return {}


def _response_attributes(response: Any) -> dict[str, AttributeValue]:
    if response is None or isinstance(response, (str, bytes, int, float, list, tuple)):
        return {}
    usage = _get(response, "usage")
    choices = _get(response, "choices")
    anthropic = _looks_anthropic(response)
    if (
        usage is None
        and choices is None
        and not anthropic
        and _get(response, "object") != "response"
    ):
        return {}
    attrs: dict[str, AttributeValue] = {}
    if usage is not None:
        attrs.update(_usage_tokens(usage, anthropic))
    model = _str(_get(response, "model"))
    if model is not None:
        attrs[semconv.GEN_AI_RESPONSE_MODEL] = model
    response_id = _str(_get(response, "id"))
    if response_id is not None:
        attrs[semconv.GEN_AI_RESPONSE_ID] = response_id
    reasons = [r for r in (_str(_get(c, "finish_reason")) for c in _seq(choices)) if r]
    stop = _str(_get(response, "stop_reason"))
    if stop is not None:
        reasons.append(stop)
    if reasons:
        attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)
    return attrs


# --- messages (GenAI "parts" format) ------------------------------------------------


def _text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "content": text}


def _parts(content: Any) -> list[dict[str, Any]]:
    """Spec parts from an OpenAI/Anthropic message ``content`` (str or list of blocks)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_part(content)]
    parts: list[dict[str, Any]] = []
    for block in _seq(content):
        kind = _get(block, "type")
        if isinstance(block, str):
            parts.append(_text_part(block))
        elif kind in ("text", "input_text", "output_text"):
            parts.append(_text_part(_get(block, "text")))
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": _get(block, "id"),
                    "name": _get(block, "name"),
                    "arguments": _get(block, "input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": _get(block, "tool_use_id"),
                    "response": _get(block, "content"),
                }
            )
        else:
            parts.append({"type": kind if isinstance(kind, str) else "unknown", "value": block})
    return parts


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in _seq(calls):
        function = _get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": _get(call, "id"),
                "name": _get(function, "name"),
                "arguments": _get(function, "arguments"),
            }
        )
    return parts


def _message(message: Any) -> dict[str, Any] | None:
    role = _get(message, "role")
    if not isinstance(role, str):
        return None
    if isinstance(message, Mapping) and isinstance(message.get("parts"), list):
        return dict(message)  # already in the GenAI format
    content = _get(message, "content")
    if role == "tool":
        parts: list[dict[str, Any]] = [
            {
                "type": "tool_call_response",
                "id": _get(message, "tool_call_id"),
                "response": content,
            }
        ]
    else:
        parts = _parts(content) + _tool_calls(_get(message, "tool_calls"))
    return {"role": role, "parts": parts}


def input_messages(messages: Any) -> list[dict[str, Any]] | None:
    """A chat message list (OpenAI or Anthropic shape) in the GenAI ``parts`` format.

    Returns None when ``messages`` is not a list of messages with a ``role``.
    """
    try:
        if not isinstance(messages, (list, tuple)) or not messages:
            return None
        converted = [_message(m) for m in messages]
        if any(m is None for m in converted):
            return None
        return [m for m in converted if m is not None]
    except Exception:
        return None


def system_instructions(value: Any) -> list[dict[str, Any]] | None:
    """A system prompt (str, or Anthropic-style text blocks) as GenAI parts; else None."""
    try:
        if isinstance(value, str):
            return [_text_part(value)] if value else None
        if isinstance(value, (list, tuple)) and value:
            return _parts(value)
    except Exception:
        pass
    return None


def output_messages(response: Any) -> list[dict[str, Any]] | None:
    """The assistant message(s) of an OpenAI/Anthropic response in the GenAI format."""
    try:
        return _output_messages(response)
    except Exception:
        return None


def _output_messages(response: Any) -> list[dict[str, Any]] | None:
    if response is None or isinstance(response, (str, bytes, int, float, list, tuple)):
        return None
    choices = _get(response, "choices")
    if choices is not None:  # OpenAI Chat Completions
        out = []
        for choice in _seq(choices):
            message = _get(choice, "message")
            converted = _message(message) if message is not None else None
            if converted is None:
                text = _get(choice, "text")  # legacy completions
                converted = {"role": "assistant", "parts": [_text_part(text)] if text else []}
            converted["finish_reason"] = _get(choice, "finish_reason")
            out.append(converted)
        return out or None
    if _looks_anthropic(response):
        return [
            {
                "role": _get(response, "role") or "assistant",
                "parts": _parts(_get(response, "content")),
                "finish_reason": _get(response, "stop_reason"),
            }
        ]
    output = _get(response, "output")
    if _get(response, "object") == "response" and output is not None:  # OpenAI Responses
        parts: list[dict[str, Any]] = []
        for item in _seq(output):
            kind = _get(item, "type")
            if kind == "message":
                parts.extend(_parts(_get(item, "content")))
            elif kind == "function_call":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": _get(item, "call_id"),
                        "name": _get(item, "name"),
                        "arguments": _get(item, "arguments"),
                    }
                )
        return [{"role": "assistant", "parts": parts, "finish_reason": _get(response, "status")}]
    return None


# --- streams ------------------------------------------------------------------------


class StreamAccumulator:
    """Collects what a streamed LLM response says about usage, model and output text.

    Fed every chunk (OpenAI chat chunks, Anthropic stream events, Responses-API events,
    or plain text); :meth:`attributes` and :meth:`messages` summarise at the end. The
    final chunk's ``usage`` (OpenAI ``stream_options.include_usage``) is picked up.
    """

    __slots__ = ("_final", "_reasons", "_size", "_text", "_usage", "_usage_start", "id", "model")

    def __init__(self) -> None:
        self.model: str | None = None
        self.id: str | None = None
        self._usage: Any = None
        self._usage_start: Any = None  # Anthropic message_start usage (input side)
        self._final: Any = None  # Responses-API completed response
        self._reasons: list[str] = []
        self._text: list[str] = []
        self._size = 0

    def feed(self, chunk: Any) -> None:
        """Take one chunk into account; never raises."""
        try:
            if type(chunk) is str:
                self._add_text(chunk)
            else:
                self._feed(chunk)
        except Exception:
            pass

    def _add_text(self, text: Any) -> None:
        if isinstance(text, str) and self._size < _STREAM_TEXT_LIMIT:
            self._text.append(text)
            self._size += len(text)

    def _feed(self, chunk: Any) -> None:
        kind = _get(chunk, "type")
        if kind is None:  # OpenAI chat completion chunk
            if self.model is None:
                self.model = _str(_get(chunk, "model"))
                self.id = _str(_get(chunk, "id"))
            for choice in _seq(_get(chunk, "choices")):
                self._add_text(_get(_get(choice, "delta"), "content"))
                reason = _str(_get(choice, "finish_reason"))
                if reason is not None:
                    self._reasons.append(reason)
            usage = _get(chunk, "usage")
            if usage is not None:
                self._usage = usage
        elif kind == "message_start":
            message = _get(chunk, "message")
            self.model = _str(_get(message, "model"))
            self.id = _str(_get(message, "id"))
            self._usage_start = _get(message, "usage")
        elif kind == "content_block_delta":
            self._add_text(_get(_get(chunk, "delta"), "text"))
        elif kind == "message_delta":
            reason = _str(_get(_get(chunk, "delta"), "stop_reason"))
            if reason is not None:
                self._reasons.append(reason)
            usage = _get(chunk, "usage")
            if usage is not None:
                self._usage = usage
        elif kind == "response.output_text.delta":
            self._add_text(_get(chunk, "delta"))
        elif kind in ("response.completed", "response.incomplete"):
            self._final = _get(chunk, "response")

    def attributes(self) -> dict[str, AttributeValue]:
        """GenAI attributes gathered from the stream."""
        if self._final is not None:
            return response_attributes(self._final)
        attrs: dict[str, AttributeValue] = {}
        try:
            if self._usage_start is not None:  # Anthropic: input at start, output at end
                start = self._usage_start
                merged = {
                    "input_tokens": _get(start, "input_tokens"),
                    "cache_read_input_tokens": _get(start, "cache_read_input_tokens"),
                    "cache_creation_input_tokens": _get(start, "cache_creation_input_tokens"),
                    "output_tokens": _get(self._usage, "output_tokens")
                    if self._usage is not None
                    else _get(start, "output_tokens"),
                }
                attrs.update(_usage_tokens(merged, anthropic=True))
            elif self._usage is not None:
                attrs.update(_usage_tokens(self._usage, anthropic=False))
        except Exception:
            pass
        if self.model is not None:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = self.model
        if self.id is not None:
            attrs[semconv.GEN_AI_RESPONSE_ID] = self.id
        if self._reasons:
            attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(self._reasons)
        return attrs

    def messages(self) -> list[dict[str, Any]] | None:
        """The streamed assistant message in the GenAI format, or None if no text came."""
        if self._final is not None:
            return output_messages(self._final)
        if not self._text and not self._reasons:
            return None
        message: dict[str, Any] = {"role": "assistant", "parts": []}
        if self._text:
            message["parts"].append(_text_part("".join(self._text)))
        message["finish_reason"] = self._reasons[-1] if self._reasons else None
        return [message]
