"""``Observation``: a handle on the current span for adding what only the function knows."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from spanlink.tracer import _content as content
from spanlink.tracer import semconv
from spanlink.tracer._llm_response import (
    apply_usage,
    input_messages,
    output_messages,
    response_attributes,
    usage_attributes,
)

__all__ = ["Observation", "current_observation"]


#: Set on a span object whose output was given with ``Observation.update(output=...)``, so
#: that the decorator does not overwrite it (cheaper than reading the span's attributes).
EXPLICIT_OUTPUT: Final = "_spanlink_explicit_output"


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Final = _Unset()


class Observation:
    """The span of the current ``@observe`` call (or any current span), with helpers.

    Get one with :func:`current_observation`. Every method is safe to call when no span
    is recording: it then does nothing. Content (``input``, ``output``, messages) is
    recorded bounded and masked like captured content, and not at all when content
    capture is off.
    """

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    @property
    def span(self) -> trace.Span:
        """The underlying OpenTelemetry span."""
        return self._span

    def is_recording(self) -> bool:
        """Whether anything set here will be recorded."""
        return self._span.is_recording()

    def set_attribute(self, key: str, value: AttributeValue) -> Observation:
        """Set one span attribute (an OpenTelemetry attribute value)."""
        if not isinstance(key, str) or not key:
            raise TypeError(f"attribute key must be a non-empty str, not {key!r}")
        self._span.set_attribute(key, value)
        return self

    def update(
        self,
        *,
        input: Any = _UNSET,
        output: Any = _UNSET,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
        model: str | None = None,
        response_model: str | None = None,
        finish_reasons: str | Sequence[str] | None = None,
        response_id: str | None = None,
        input_messages: Any = None,
        output_messages: Any = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Observation:
        """Record facts on the span; arguments left out are not touched.

        ``input``/``output`` replace the captured function input/output (and the
        decorator then leaves them alone). ``input_messages``/``output_messages`` take
        chat messages in OpenAI/Anthropic shape or already in the GenAI ``parts`` format.
        The token and model arguments are those of :func:`spanlink.tracer.set_llm_usage`;
        bad values raise ``TypeError``/``ValueError`` before anything is recorded.
        """
        attrs: dict[str, AttributeValue] = usage_attributes(
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
        if attributes is not None:
            if not isinstance(attributes, Mapping):
                raise TypeError("attributes must be a mapping of str to attribute values")
            attrs.update(attributes)
        if not self._span.is_recording():
            return self
        if content.capture_enabled():
            if input is not _UNSET:
                attrs[semconv.SPANLINK_INPUT] = content.capture(input, None)
            if output is not _UNSET:
                attrs[semconv.SPANLINK_OUTPUT] = content.capture(output, None)
                with contextlib.suppress(AttributeError, TypeError):  # no __dict__ on the span
                    setattr(self._span, EXPLICIT_OUTPUT, True)
            if input_messages is not None:
                attrs[semconv.GEN_AI_INPUT_MESSAGES] = _messages_json(input_messages)
            if output_messages is not None:
                attrs[semconv.GEN_AI_OUTPUT_MESSAGES] = _messages_json(output_messages)
        apply_usage(self._span, attrs)
        return self

    def record_response(self, response: Any) -> Observation:
        """Read usage, response model and output messages from an LLM response.

        What ``@observe.llm`` does with a returned response, for code that gets the
        response some other way. Attributes already set on the span are kept.
        """
        if self._span.is_recording():
            record_response(self._span, response)
        return self

    def __repr__(self) -> str:
        return f"Observation({self._span!r})"


def current_observation() -> Observation:
    """The :class:`Observation` of the current span (a no-op one when there is none)."""
    return Observation(trace.get_current_span())


def _messages_json(messages: Any) -> str:
    converted = input_messages(messages)
    return content.capture(messages if converted is None else converted, None)


def set_missing(span: trace.Span, attrs: Mapping[str, AttributeValue]) -> None:
    """Set the attributes the span does not have yet (explicit values win)."""
    existing = getattr(span, "attributes", None)
    if isinstance(existing, Mapping):
        present = set(existing)  # one pass; `in` on the SDK's attributes raises KeyError inside
        attrs = {k: v for k, v in attrs.items() if k not in present}
    if attrs:
        span.set_attributes(attrs)


def record_response(span: trace.Span, response: Any, mask: content.Mask | None = None) -> None:
    """Record an LLM response's usage, model and output messages; never raises.

    Attributes the span already has (set explicitly during the call) are kept.
    """
    try:
        attrs = response_attributes(response)
        if content.capture_enabled():
            messages = output_messages(response)
            if messages is not None:
                attrs[semconv.GEN_AI_OUTPUT_MESSAGES] = content.capture(messages, mask)
        set_missing(span, attrs)
    except Exception:
        pass
