"""The per-function observer of ``@observe``: everything a traced call does around the call.

Everything that can be is computed once at decoration time (span name, kind, static
attributes, parameter names); a call does: look up the tracer of the global provider (so a
provider set later is respected), capture the input, start the span with its required
attributes (samplers and processors see them in ``on_start``), run the function, record
the output or the exception, end the span.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from spanlink.tracer import _content as content
from spanlink.tracer import semconv
from spanlink.tracer._llm_response import StreamAccumulator, input_messages, system_instructions
from spanlink.tracer._span_handle import EXPLICIT_OUTPUT, record_response, set_missing
from spanlink.tracer.support import WarnOnce

__all__ = ["INSTRUMENTATION_NAME", "KINDS", "LLM_OPERATIONS", "is_attribute_value"]

logger = logging.getLogger("spanlink.tracer")

INSTRUMENTATION_NAME: Final = "spanlink.tracer"

#: A started call: its span, whether content is captured, the token of its context.
_Call = tuple[trace.Span, bool, Token[otel_context.Context]]

#: ``kind=`` values: those of the GenAI spec set ``gen_ai.operation.name`` (value shown),
#: the others set ``spanlink.kind``.
KINDS: Final[Mapping[str, tuple[str, str]]] = {
    "function": (semconv.SPANLINK_KIND, semconv.KIND_FUNCTION),
    "llm": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_CHAT),
    "chat": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_CHAT),
    "text_completion": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_TEXT_COMPLETION),
    "generate_content": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_GENERATE_CONTENT),
    "embedding": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_EMBEDDINGS),
    "embeddings": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_EMBEDDINGS),
    "retrieval": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_RETRIEVAL),
    "tool": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_EXECUTE_TOOL),
    "execute_tool": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_EXECUTE_TOOL),
    "agent": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_INVOKE_AGENT),
    "invoke_agent": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_INVOKE_AGENT),
    "create_agent": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_CREATE_AGENT),
    "workflow": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_INVOKE_WORKFLOW),
    "invoke_workflow": (semconv.GEN_AI_OPERATION_NAME, semconv.OP_INVOKE_WORKFLOW),
    "guardrail": (semconv.SPANLINK_KIND, semconv.KIND_GUARDRAIL),
    "evaluation": (semconv.SPANLINK_KIND, semconv.KIND_EVALUATION),
    "rerank": (semconv.SPANLINK_KIND, semconv.KIND_RERANK),
    "transform": (semconv.SPANLINK_KIND, semconv.KIND_TRANSFORM),
    "chain": (semconv.SPANLINK_KIND, semconv.KIND_CHAIN),
}

LLM_OPERATIONS: Final = frozenset(
    {semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION, semconv.OP_GENERATE_CONTENT}
)
_CLIENT_OPERATIONS: Final = semconv.MODEL_OPERATIONS
#: Operations whose span name is "<operation> <name>" (spec), the name being a model,
#: a tool, an agent or a workflow.
_NAMED_BY: Final[Mapping[str, str | None]] = {
    semconv.OP_EXECUTE_TOOL: semconv.GEN_AI_TOOL_NAME,
    semconv.OP_INVOKE_AGENT: semconv.GEN_AI_AGENT_NAME,
    semconv.OP_CREATE_AGENT: semconv.GEN_AI_AGENT_NAME,
    semconv.OP_INVOKE_WORKFLOW: semconv.GEN_AI_WORKFLOW_NAME,
}
#: Request parameters read from the call's arguments of LLM functions (not content).
_REQUEST_PARAMETERS: Final[Mapping[str, str]] = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "frequency_penalty": semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "stop": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
}
#: Arguments holding the system prompt of LLM functions (Anthropic, OpenAI Responses).
_SYSTEM_PARAMETERS: Final = ("system", "instructions")
_RECEIVER_NAMES: Final = frozenset({"self", "cls"})


# --- tracer lookup ------------------------------------------------------------------

_tracer_cache: tuple[object, trace.Tracer, bool] | None = None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("spanlink-tracer")
    except Exception:
        return "0.0.0"


def _tracer() -> tuple[trace.Tracer, bool]:
    """The spanlink tracer of the global provider in force now (cached per provider), and
    whether that provider can record at all (no SDK set up yet: skip content capture)."""
    global _tracer_cache
    provider = trace.get_tracer_provider()
    cache = _tracer_cache
    if cache is not None and cache[0] is provider:
        return cache[1], cache[2]
    tracer = provider.get_tracer(INSTRUMENTATION_NAME, _version())
    live = not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    _tracer_cache = (provider, tracer, live)
    return tracer, live


# --- error handling -----------------------------------------------------------------

#: Each distinct failure is logged once per process, with its traceback.
_warn_once: Final = WarnOnce(logger)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = getattr(cls, "__module__", "")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _end(span: trace.Span) -> None:
    """End the span; a span processor that raises never reaches the user's code."""
    try:
        span.end()
    except Exception:
        _warn_once("end", "spanlink: a span processor raised while a span ended", exc_info=True)


def _record_error(span: trace.Span, exc: BaseException) -> None:
    """Status ERROR, ``error.type`` and the exception event; never raises."""
    try:
        if not span.is_recording():
            return
        try:
            message = f"{type(exc).__name__}: {exc}"
        except Exception:
            message = type(exc).__name__
        span.set_status(Status(StatusCode.ERROR, message))
        span.set_attribute(semconv.ERROR_TYPE, _error_type(exc))
        span.record_exception(exc)
    except Exception:
        _warn_once(
            "record_error", "spanlink: could not record an exception on a span", exc_info=True
        )


# --- the per-function observer ------------------------------------------------------


class _Observer:
    """What a decorated function needs at call time, computed once at decoration."""

    __slots__ = (
        "accumulate",
        "arg_keys",
        "binds",
        "bound_names",
        "capture_input",
        "capture_output",
        "dynamic_model",
        "known",
        "llm",
        "mask",
        "messages_param",
        "name",
        "names",
        "operation",
        "query_param",
        "request_params",
        "skip",
        "span_kind",
        "static",
        "system_param",
        "var_keyword",
        "var_positional",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None,
        kind: str,
        capture_input: bool,
        capture_output: bool,
        attributes: Mapping[str, AttributeValue] | None,
        mask: content.Mask | None,
        model: str | None,
        provider: str | None,
        receiver: bool,
        extra: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        key, value = KINDS[kind]
        operation = value if key == semconv.GEN_AI_OPERATION_NAME else None
        self.operation = operation
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.mask = mask
        static: dict[str, AttributeValue] = {key: value}
        if provider is not None:
            static[semconv.GEN_AI_PROVIDER_NAME] = provider
        if model is not None:
            static[semconv.GEN_AI_REQUEST_MODEL] = model
        func_name = _function_name(func)
        named_by = _NAMED_BY.get(operation) if operation is not None else None
        if named_by is not None:
            entity = name or getattr(func, "__name__", None) or func_name
            static[named_by] = entity
            span_name = f"{operation} {entity}"
        elif name is not None:
            span_name = name
        elif operation is None:
            span_name = func_name
        elif operation == semconv.OP_RETRIEVAL and extra:
            source = extra.get(semconv.GEN_AI_DATA_SOURCE_ID)
            span_name = f"{operation} {source}" if source else operation
        else:
            span_name = f"{operation} {model}" if model else operation
        if extra:
            static.update(extra)
        if attributes:
            static.update(attributes)
        self.static = static
        self.name = span_name
        self.span_kind = SpanKind.CLIENT if operation in _CLIENT_OPERATIONS else SpanKind.INTERNAL
        self.llm = operation in _CLIENT_OPERATIONS
        self.accumulate = self.llm

        # Parameters, for binding arguments by name without inspect's slow bind().
        self.names: tuple[str, ...] = ()
        self.var_positional: str | None = None
        self.var_keyword: str | None = None
        self.skip = 0
        self.binds = True
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            params = []
            self.binds = False
        names = []
        for param in params:
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                names.append(param.name)
            elif param.kind is param.VAR_POSITIONAL:
                self.var_positional = param.name
            elif param.kind is param.VAR_KEYWORD:
                self.var_keyword = param.name
        self.names = tuple(names)
        self.known = frozenset(
            p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )
        if names and (receiver or names[0] in _RECEIVER_NAMES):
            self.skip = 1
        self.bound_names = self.names[self.skip :]
        # The JSON keys of the parameters, for writing a call of scalars' input directly;
        # None when that path cannot apply (no signature, a mask, a very long name).
        keys = tuple(content.object_key(n) for n in self.bound_names)
        self.arg_keys: tuple[str, ...] | None = (
            keys if self.binds and mask is None and None not in keys else None  # type: ignore[assignment]
        )
        all_names = {p.name for p in params}
        self.dynamic_model = (
            operation in _CLIENT_OPERATIONS and model is None and "model" in all_names
        )
        self.messages_param = operation in LLM_OPERATIONS and "messages" in all_names
        self.query_param = operation == semconv.OP_RETRIEVAL and "query" in all_names
        self.system_param = next(
            (p for p in _SYSTEM_PARAMETERS if p in all_names and operation in LLM_OPERATIONS),
            None,
        )
        self.request_params: tuple[tuple[str, str], ...] = (
            tuple((p, a) for p, a in _REQUEST_PARAMETERS.items() if p in all_names)
            if operation in LLM_OPERATIONS
            else ()
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (receiver excluded, defaults not added)."""
        if not self.binds:
            return {"args": list(args), "kwargs": kwargs}
        names = self.names
        skip = self.skip
        bound = dict(zip(self.bound_names, args[skip:] if skip else args, strict=False))
        if len(args) > len(names):
            bound[self.var_positional or "args"] = list(args[len(names) :])
        if kwargs:
            if self.var_keyword is None:
                bound.update(kwargs)
            else:
                extra = {}
                for k, v in kwargs.items():
                    if k in self.known:
                        bound[k] = v
                    else:
                        extra[k] = v
                if extra:
                    bound[self.var_keyword] = extra
        return bound

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
        """Start the span and make it current: (span, capture, context token), or None
        when that failed and the function is to be called untraced."""
        try:
            span, capture = self.start(args, kwargs)
            return span, capture, otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            _warn_once("start", "spanlink: could not start a span; calling untraced", exc_info=True)
            return None

    def leave(self, call: _Call, result: Any) -> None:
        """The call returned ``result``: record it and end the span; never raises."""
        span, capture, token = call
        otel_context.detach(token)
        self.finish(span, result, capture)
        _end(span)

    def leave_raised(self, call: _Call, exc: BaseException) -> None:
        """The call raised ``exc``: record an ``Exception`` as the error, end the span."""
        span, _, token = call
        otel_context.detach(token)
        if isinstance(exc, Exception):
            _record_error(span, exc)
        _end(span)

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[trace.Span, bool]:
        """Start the span (not made current); returns it and whether content is captured."""
        tracer, live = _tracer()
        capture = live and content.capture_enabled()
        attrs = self.static
        name = self.name
        bound: dict[str, Any] | None = None
        if capture and self.capture_input:
            keys = self.arg_keys
            text = None
            if keys is not None and not kwargs and len(args) <= len(self.names):
                text = content.capture_arguments(keys, args[self.skip :] if self.skip else args)
            if text is None:
                bound = self.bind(args, kwargs)
                text = content.capture(bound, self.mask)
            attrs = dict(attrs)
            attrs[semconv.SPANLINK_INPUT] = text
        if (
            self.dynamic_model
            or self.request_params
            or self.messages_param
            or self.query_param
            or self.system_param
        ):
            if bound is None:
                bound = self.bind(args, kwargs)
            if attrs is self.static:
                attrs = dict(attrs)
            name = self._call_attributes(bound, attrs, capture)
        span = tracer.start_span(name, None, self.span_kind, attrs)
        return span, capture

    def _call_attributes(
        self, bound: dict[str, Any], attrs: dict[str, AttributeValue], capture: bool
    ) -> str:
        """Attributes that depend on the arguments (model, request parameters, messages)."""
        name = self.name
        if self.dynamic_model:
            model = bound.get("model")
            if isinstance(model, str) and model:
                attrs[semconv.GEN_AI_REQUEST_MODEL] = model
                name = f"{self.operation} {model}"
        for param, attribute in self.request_params:
            value = bound.get(param)
            if isinstance(value, str) and attribute == semconv.GEN_AI_REQUEST_STOP_SEQUENCES:
                value = (value,)
            if is_attribute_value(value):
                attrs[attribute] = value
        if capture and self.messages_param:
            converted = input_messages(bound.get("messages"))
            if converted is not None:
                attrs[semconv.GEN_AI_INPUT_MESSAGES] = content.capture(converted, self.mask)
        if capture and self.system_param is not None:
            system = system_instructions(bound.get(self.system_param))
            if system is not None:
                attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = content.capture(system, self.mask)
        if capture and self.query_param:
            query = content.apply_masks(bound.get("query"), self.mask)
            if isinstance(query, str):
                attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = content.bound_text(query)
        return name

    def finish(self, span: trace.Span, result: Any, capture: bool) -> None:
        """Record the result of a call that returned; never raises."""
        try:
            # An output set explicitly during the call (Observation.update) wins.
            if capture and self.capture_output and not getattr(span, EXPLICIT_OUTPUT, False):
                span.set_attribute(semconv.SPANLINK_OUTPUT, content.capture(result, self.mask))
            if self.llm and span.is_recording():
                record_response(span, result, self.mask)
        except Exception:
            _warn_once("finish", "spanlink: could not record the output of a call", exc_info=True)

    def finish_stream(
        self,
        span: trace.Span,
        count: int,
        output: Any,
        accumulator: StreamAccumulator | None,
        capture: bool,
    ) -> None:
        """Record what a generator yielded (``output``: None when not kept); never raises."""
        try:
            if not span.is_recording():
                return
            attrs: dict[str, AttributeValue] = {semconv.SPANLINK_OUTPUT_CHUNKS: count}
            if output is not None and not getattr(span, EXPLICIT_OUTPUT, False):
                attrs[semconv.SPANLINK_OUTPUT] = content.capture(output, self.mask)
            span.set_attributes(attrs)
            if accumulator is not None:
                response = accumulator.attributes()
                if capture:
                    messages = accumulator.messages()
                    if messages is not None:
                        response[semconv.GEN_AI_OUTPUT_MESSAGES] = content.capture(
                            messages, self.mask
                        )
                set_missing(span, response)
        except Exception:
            _warn_once(
                "finish_stream",
                "spanlink: could not record the output of a generator",
                exc_info=True,
            )


def is_attribute_value(value: Any) -> bool:
    if isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)) and value:
        first = type(value[0])
        return first in (str, bool, int, float) and all(type(v) is first for v in value)
    return False


def _function_name(func: Any) -> str:
    if isinstance(func, functools.partial):
        return _function_name(func.func)
    for attr in ("__qualname__", "__name__"):
        value = getattr(func, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(func).__qualname__
