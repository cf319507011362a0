"""``@observe``: one span per call of a function, named and typed per the GenAI conventions.

Usable as ``@observe``, ``@observe()``, ``@observe(name=..., kind=..., ...)`` and through the
typed helpers ``observe.llm(model=, provider=)``, ``observe.tool(name=)``,
``observe.agent(name=)``, ``observe.retrieval()``, ``observe.embedding(model=)``,
``observe.rerank()``, ``observe.guardrail()``, ``observe.evaluation()``, ``observe.chain()``
and ``observe.transform()``.

Everything that can be is computed once at decoration time (span name, kind, static
attributes, parameter names); a call does: look up the tracer of the global provider (so a
provider set later is respected), capture the input, start the span with its required
attributes (samplers and processors see them in ``on_start``), run the function, record
the output or the exception, end the span. Generators and async generators keep their span
open for the whole iteration and end it on exhaustion, ``close()`` or an exception.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, Final, Protocol, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from spanlink.tracer import content, semconv
from spanlink.tracer.observation import (
    EXPLICIT_OUTPUT,
    Observation,
    current_observation,
    record_response,
    set_missing,
)
from spanlink.tracer.usage import StreamAccumulator, input_messages, system_instructions

__all__ = ["KINDS", "Decorator", "Observation", "current_observation", "observe"]

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("spanlink.tracer")

INSTRUMENTATION_NAME: Final = "spanlink.tracer"

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

_LLM_OPERATIONS: Final = frozenset(
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
_MAX_KEPT_CHUNKS: Final = 1024
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

_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, exc_info=True)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = getattr(cls, "__module__", "")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _end(span: trace.Span) -> None:
    """End the span; a span processor that raises never reaches the user's code."""
    try:
        span.end()
    except Exception:
        _warn_once("end", "spanlink: a span processor raised while a span ended")


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
        _warn_once("record_error", "spanlink: could not record an exception on a span")


# --- the per-function observer ------------------------------------------------------


class _Observer:
    """What a decorated function needs at call time, computed once at decoration."""

    __slots__ = (
        "accumulate",
        "binds",
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
        all_names = {p.name for p in params}
        self.dynamic_model = (
            operation in _CLIENT_OPERATIONS and model is None and "model" in all_names
        )
        self.messages_param = operation in _LLM_OPERATIONS and "messages" in all_names
        self.query_param = operation == semconv.OP_RETRIEVAL and "query" in all_names
        self.system_param = next(
            (p for p in _SYSTEM_PARAMETERS if p in all_names and operation in _LLM_OPERATIONS),
            None,
        )
        self.request_params: tuple[tuple[str, str], ...] = (
            tuple((p, a) for p, a in _REQUEST_PARAMETERS.items() if p in all_names)
            if operation in _LLM_OPERATIONS
            else ()
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (receiver excluded, defaults not added)."""
        if not self.binds:
            return {"args": list(args), "kwargs": kwargs}
        names = self.names
        bound = dict(zip(names[self.skip :], args[self.skip :], strict=False))
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

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[trace.Span, bool]:
        """Start the span (not made current); returns it and whether content is captured."""
        tracer, live = _tracer()
        capture = live and content.capture_enabled()
        attrs = self.static
        name = self.name
        bound: dict[str, Any] | None = None
        if capture and self.capture_input:
            bound = self.bind(args, kwargs)
            attrs = dict(attrs)
            attrs[semconv.SPANLINK_INPUT] = content.capture(bound, self.mask)
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
            if _is_attribute_value(value):
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
            _warn_once("finish", "spanlink: could not record the output of a call")

    def finish_stream(
        self,
        span: trace.Span,
        count: int,
        kept: list[Any] | None,
        accumulator: StreamAccumulator | None,
        capture: bool,
    ) -> None:
        """Record what a generator yielded; never raises."""
        try:
            if not span.is_recording():
                return
            attrs: dict[str, AttributeValue] = {semconv.SPANLINK_OUTPUT_CHUNKS: count}
            if kept is not None and not getattr(span, EXPLICIT_OUTPUT, False):
                output: Any
                dropped = count - len(kept)
                if kept and set(map(type, kept)) == {str}:
                    output = "".join(kept) + ("…" if dropped else "")
                else:
                    output = kept
                    if dropped:
                        output.append(f"… {dropped} more chunks")
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
            _warn_once("finish_stream", "spanlink: could not record the output of a generator")


def _is_attribute_value(value: Any) -> bool:
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


# --- wrappers -----------------------------------------------------------------------


def _wrap_function(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    attach = otel_context.attach
    detach = otel_context.detach
    set_span = trace.set_span_in_context

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, capture = obs.start(args, kwargs)
            token = attach(set_span(span))
        except Exception:
            _warn_once("start", "spanlink: could not start a span; calling untraced")
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            detach(token)
            _record_error(span, exc)
            _end(span)
            raise
        except BaseException:
            detach(token)
            _end(span)
            raise
        detach(token)
        obs.finish(span, result, capture)
        try:
            span.end()
        except Exception:
            _warn_once("end", "spanlink: a span processor raised while a span ended")
        return result

    return wrapper


def _wrap_coroutine(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    attach = otel_context.attach
    detach = otel_context.detach
    set_span = trace.set_span_in_context

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, capture = obs.start(args, kwargs)
            token = attach(set_span(span))
        except Exception:
            _warn_once("start", "spanlink: could not start a span; calling untraced")
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except Exception as exc:
            detach(token)
            _record_error(span, exc)
            _end(span)
            raise
        except BaseException:
            detach(token)
            _end(span)
            raise
        detach(token)
        obs.finish(span, result, capture)
        try:
            span.end()
        except Exception:
            _warn_once("end", "spanlink: a span processor raised while a span ended")
        return result

    return wrapper


def _chunks_size(kept: list[Any], start: int, used: int) -> int:
    """``used`` plus the approximate size of ``kept[start:]`` (strings by length)."""
    for chunk in kept[start:]:
        used += len(chunk) if type(chunk) is str else 32
    return used


def _wrap_generator(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    set_span = trace.set_span_in_context

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        try:
            span, capture = obs.start(args, kwargs)
            # The generator runs in a context of its own holding the span: it sees the span
            # as current on every step, and the caller never sees it between steps.
            run = contextvars.copy_context().run
            run(otel_context.attach, set_span(span))
        except Exception:
            _warn_once("start", "spanlink: could not start a span; calling untraced")
            return (yield from func(*args, **kwargs))
        # Chunks kept for the recorded output: bounded by count, and by size checked every
        # 32 chunks (this loop runs once per chunk, so the common path is one comparison).
        keep = capture and obs.capture_output
        kept: list[Any] = []
        append = kept.append
        keeping = keep
        limit = 32 if keep else 0
        budget = content.content_config().max_bytes
        used = 0
        accumulator = StreamAccumulator() if obs.accumulate else None
        count = 0
        try:
            gen = run(func, *args, **kwargs)
            send = gen.send
            step: Callable[[Any], Any] = send
            value: Any = None
            while True:
                try:
                    item = run(step, value)
                except StopIteration as stop:
                    return stop.value
                count += 1
                if count < limit:
                    append(item)
                elif keeping:  # every 32 chunks: check the size kept so far
                    append(item)
                    used = _chunks_size(kept, len(kept) - 32, used)
                    if used >= budget or len(kept) >= _MAX_KEPT_CHUNKS:
                        keeping = False
                    else:
                        limit += 32
                if accumulator is not None:
                    accumulator.feed(item)
                try:
                    value = yield item
                    step = send
                except GeneratorExit:
                    run(gen.close)
                    raise
                except BaseException as thrown:  # forwarded into the generator
                    value = thrown
                    step = gen.throw
        except Exception as exc:
            _record_error(span, exc)
            raise
        finally:
            obs.finish_stream(span, count, kept if keep else None, accumulator, capture)
            _end(span)

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    attach = otel_context.attach
    detach = otel_context.detach
    set_span = trace.set_span_in_context

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        try:
            span, capture = obs.start(args, kwargs)
            span_context = set_span(span)
        except Exception:
            _warn_once("start", "spanlink: could not start a span; calling untraced")
            async for item in func(*args, **kwargs):
                yield item
            return
        keep = capture and obs.capture_output
        kept: list[Any] = []
        append = kept.append
        keeping = keep
        limit = 32 if keep else 0
        budget = content.content_config().max_bytes
        used = 0
        accumulator = StreamAccumulator() if obs.accumulate else None
        count = 0
        try:
            token = attach(span_context)
            try:
                agen = func(*args, **kwargs)
            finally:
                detach(token)
            asend = agen.asend
            step: Callable[[Any], Any] = asend
            value: Any = None
            while True:
                # The span is current only while the generator runs, never between steps.
                token = attach(span_context)
                try:
                    item = await step(value)
                except StopAsyncIteration:
                    return
                finally:
                    detach(token)
                count += 1
                if count < limit:
                    append(item)
                elif keeping:  # every 32 chunks: check the size kept so far
                    append(item)
                    used = _chunks_size(kept, len(kept) - 32, used)
                    if used >= budget or len(kept) >= _MAX_KEPT_CHUNKS:
                        keeping = False
                    else:
                        limit += 32
                if accumulator is not None:
                    accumulator.feed(item)
                try:
                    value = yield item
                    step = asend
                except GeneratorExit:
                    token = attach(span_context)
                    try:
                        await agen.aclose()
                    finally:
                        detach(token)
                    raise
                except BaseException as thrown:  # forwarded into the generator
                    value = thrown
                    step = agen.athrow
        except Exception as exc:
            _record_error(span, exc)
            raise
        finally:
            obs.finish_stream(span, count, kept if keep else None, accumulator, capture)
            _end(span)

    return wrapper


# --- the decorator ------------------------------------------------------------------


class Decorator(Protocol):
    """What ``observe(...)`` returns: applied to a function, returns the traced function."""

    def __call__(self, func: F, /) -> F: ...


def _check_options(
    name: Any,
    kind: Any,
    capture_input: Any,
    capture_output: Any,
    attributes: Any,
    mask: Any,
) -> dict[str, AttributeValue] | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"observe(name=...) must be a non-empty str, not {name!r}")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(
            f"observe(kind={kind!r}) is not a known kind; use one of: {', '.join(KINDS)}"
        )
    for option, value in (("capture_input", capture_input), ("capture_output", capture_output)):
        if not isinstance(value, bool):
            raise TypeError(f"observe({option}=...) must be True or False, not {value!r}")
    if mask is not None and not callable(mask):
        raise TypeError(f"observe(mask=...) must be a callable taking one value, not {mask!r}")
    if attributes is None:
        return None
    if not isinstance(attributes, Mapping):
        raise TypeError("observe(attributes=...) must be a dict of str to attribute values")
    checked: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"observe(attributes=...) keys must be non-empty str, not {key!r}")
        if not _is_attribute_value(value):
            raise TypeError(
                f"observe(attributes=...)[{key!r}] = {content.safe_repr(value, 80)} is not an "
                "OpenTelemetry attribute value: use str, bool, int, float or a list of one of them"
            )
        checked[key] = tuple(value) if isinstance(value, list) else value
    return checked


def _decorate(target: Any, options: dict[str, Any]) -> Any:
    """Wrap ``target`` (function, method, classmethod, staticmethod, callable object)."""
    if isinstance(target, (classmethod, staticmethod)):
        inner = _decorate_callable(
            target.__func__, options, receiver=isinstance(target, classmethod)
        )
        return type(target)(inner)
    if isinstance(target, type):
        raise TypeError(
            f"@observe cannot decorate the class {target.__qualname__}: decorate its methods"
        )
    if isinstance(target, str):
        raise TypeError(
            f"@observe({target!r}): pass the span name as a keyword, @observe(name={target!r})"
        )
    if not callable(target):
        raise TypeError(
            f"@observe can only decorate a function, method, classmethod or staticmethod, "
            f"not {type(target).__name__} {content.safe_repr(target, 80)}"
        )
    return _decorate_callable(target, options, receiver=False)


def _decorate_callable(func: Callable[..., Any], options: dict[str, Any], receiver: bool) -> Any:
    obs = _Observer(func, receiver=receiver, **options)
    call = getattr(func, "__call__", None)  # noqa: B004 (callable objects with async __call__)
    if inspect.isasyncgenfunction(func) or (
        not inspect.isroutine(func) and inspect.isasyncgenfunction(call)
    ):
        return _wrap_async_generator(func, obs)
    if inspect.iscoroutinefunction(func) or (
        not inspect.isroutine(func) and inspect.iscoroutinefunction(call)
    ):
        return _wrap_coroutine(func, obs)
    if inspect.isgeneratorfunction(func) or (
        not inspect.isroutine(func) and inspect.isgeneratorfunction(call)
    ):
        return _wrap_generator(func, obs)
    return _wrap_function(func, obs)


def _make(
    kind: str,
    name: str | None,
    capture_input: bool,
    capture_output: bool,
    attributes: Mapping[str, AttributeValue] | None,
    mask: content.Mask | None,
    model: str | None = None,
    provider: str | None = None,
    extra: Mapping[str, AttributeValue] | None = None,
) -> Decorator:
    checked = _check_options(name, kind, capture_input, capture_output, attributes, mask)
    for option, value in (("model", model), ("provider", provider)):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(f"observe: {option}= must be a non-empty str, not {value!r}")
    options: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "capture_input": capture_input,
        "capture_output": capture_output,
        "attributes": checked,
        "mask": mask,
        "model": model,
        "provider": provider,
        "extra": extra,
    }

    def decorator(func: F, /) -> F:
        wrapped: F = _decorate(func, options)
        return wrapped

    return decorator


class _Observe:
    """The ``observe`` decorator; see the module documentation."""

    @overload
    def __call__(self, func: F, /) -> F: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        kind: str = "function",
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator: ...

    def __call__(
        self,
        func: Any = None,
        /,
        *,
        name: str | None = None,
        kind: str = "function",
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Any:
        """Trace every call of the decorated function in a span.

        ``name``: span name (default: the function's ``__qualname__``; for tools, agents
        and workflows the tool/agent/workflow name). ``kind``: one of :data:`KINDS`.
        ``capture_input``/``capture_output``: record the arguments / the result as
        bounded JSON (also subject to the global switch). ``attributes``: static span
        attributes. ``mask``: callable applied to every captured value before recording.
        """
        decorator = _make(kind, name, capture_input, capture_output, attributes, mask)
        if func is None:
            return decorator
        return decorator(func)

    def llm(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        operation: str = "chat",
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A call to a language model: CLIENT span ``"<operation> <model>"``.

        ``operation``: ``chat`` (default), ``text_completion`` or ``generate_content``.
        Without ``model=``, an argument named ``model`` gives the request model. An
        argument named ``messages`` is recorded as ``gen_ai.input.messages``; tokens,
        response model and output messages are read from an OpenAI/Anthropic-shaped
        return value (or the chunks of a generator).
        """
        if operation not in _LLM_OPERATIONS:
            raise ValueError(
                f"observe.llm(operation={operation!r}): use one of {sorted(_LLM_OPERATIONS)}"
            )
        return _make(
            operation, name, capture_input, capture_output, attributes, mask, model, provider
        )

    def embedding(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A call to an embedding model: CLIENT span ``"embeddings <model>"``."""
        return _make(
            "embeddings", name, capture_input, capture_output, attributes, mask, model, provider
        )

    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A tool execution: span ``"execute_tool <name>"`` (default: the function name)."""
        extra = {semconv.GEN_AI_TOOL_DESCRIPTION: description} if description else None
        return _make("tool", name, capture_input, capture_output, attributes, mask, extra=extra)

    def agent(
        self,
        *,
        name: str | None = None,
        agent_id: str | None = None,
        description: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """An agent invocation: span ``"invoke_agent <name>"`` (default: the function name)."""
        extra: dict[str, AttributeValue] = {}
        if agent_id:
            extra[semconv.GEN_AI_AGENT_ID] = agent_id
        if description:
            extra[semconv.GEN_AI_AGENT_DESCRIPTION] = description
        return _make(
            "agent", name, capture_input, capture_output, attributes, mask, extra=extra or None
        )

    def retrieval(
        self,
        *,
        name: str | None = None,
        data_source_id: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A retrieval: span ``"retrieval"`` (``"retrieval <data_source_id>"`` if given).

        An argument named ``query`` is recorded as ``gen_ai.retrieval.query.text``.
        """
        extra = {semconv.GEN_AI_DATA_SOURCE_ID: data_source_id} if data_source_id else None
        return _make(
            "retrieval", name, capture_input, capture_output, attributes, mask, extra=extra
        )

    def rerank(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A reranking step (``spanlink.kind`` = ``rerank``)."""
        return _make("rerank", name, capture_input, capture_output, attributes, mask)

    def guardrail(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A guardrail check (``spanlink.kind`` = ``guardrail``)."""
        return _make("guardrail", name, capture_input, capture_output, attributes, mask)

    def evaluation(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """An evaluation (``spanlink.kind`` = ``evaluation``)."""
        return _make("evaluation", name, capture_input, capture_output, attributes, mask)

    def chain(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A chain of steps (``spanlink.kind`` = ``chain``)."""
        return _make("chain", name, capture_input, capture_output, attributes, mask)

    def transform(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator:
        """A data transformation (``spanlink.kind`` = ``transform``)."""
        return _make("transform", name, capture_input, capture_output, attributes, mask)

    def __repr__(self) -> str:
        return "<spanlink.tracer.observe>"


#: The decorator. See the module documentation.
observe: Final = _Observe()
