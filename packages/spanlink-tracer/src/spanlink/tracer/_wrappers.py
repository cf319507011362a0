"""The traced function that replaces a decorated one: one wrapper per call shape.

A call (plain function or coroutine) has its span current while it runs; a stream
(generator or async generator) keeps its span open for the whole iteration, makes it
current only while the generator runs, and ends it on exhaustion, ``close()`` or an
exception. What happens around the call lives in :class:`_Observer` and :class:`_Chunks`,
so each wrapper is only the control flow its shape needs.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace

from spanlink.tracer import _content as content
from spanlink.tracer._llm_response import StreamAccumulator
from spanlink.tracer._observer import _end, _Observer, _record_error, _warn_once

__all__ = ["wrap"]

_MAX_KEPT_CHUNKS: Final = 1024


class _Chunks:
    """What a stream yielded: counted, fed to the usage accumulator, and kept for the output.

    Kept chunks are bounded by count, and by size checked every 32 chunks (this runs once
    per chunk, so the common path is one comparison).
    """

    __slots__ = ("accumulator", "budget", "count", "keep", "keeping", "kept", "limit", "used")

    def __init__(self, obs: _Observer, capture: bool) -> None:
        self.keep = self.keeping = capture and obs.capture_output
        self.kept: list[Any] = []
        self.limit = 32 if self.keep else 0
        self.budget = content.content_config().max_bytes
        self.used = 0
        self.count = 0
        self.accumulator = StreamAccumulator() if obs.accumulate else None

    def add(self, item: Any) -> None:
        self.count += 1
        if self.count < self.limit:
            self.kept.append(item)
        elif self.keeping:  # every 32 chunks: check the size kept so far
            kept = self.kept
            kept.append(item)
            used = self.used
            for chunk in kept[len(kept) - 32 :]:
                used += len(chunk) if type(chunk) is str else 32
            self.used = used
            if used >= self.budget or len(kept) >= _MAX_KEPT_CHUNKS:
                self.keeping = False
            else:
                self.limit += 32
        if self.accumulator is not None:
            self.accumulator.feed(item)

    def finish(self, obs: _Observer, span: trace.Span, capture: bool) -> None:
        obs.finish_stream(
            span, self.count, self.kept if self.keep else None, self.accumulator, capture
        )


def _wrap_function(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = obs.enter(args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            obs.leave_raised(call, exc)
            raise
        obs.leave(call, result)
        return result

    return wrapper


def _wrap_coroutine(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    # The same flow as _wrap_function, awaiting the call: Python has no sync/async generic.
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = obs.enter(args, kwargs)
        if call is None:
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            obs.leave_raised(call, exc)
            raise
        obs.leave(call, result)
        return result

    return wrapper


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
            _warn_once("start", "spanlink: could not start a span; calling untraced", exc_info=True)
            return (yield from func(*args, **kwargs))
        chunks = _Chunks(obs, capture)
        add = chunks.add
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
                add(item)
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
            chunks.finish(obs, span, capture)
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
            _warn_once("start", "spanlink: could not start a span; calling untraced", exc_info=True)
            async for item in func(*args, **kwargs):
                yield item
            return
        chunks = _Chunks(obs, capture)
        add = chunks.add
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
                add(item)
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
            chunks.finish(obs, span, capture)
            _end(span)

    return wrapper


def _is(check: Callable[[Any], bool], func: Callable[..., Any]) -> bool:
    # Callable objects count by their ``__call__`` (e.g. a class with ``async def __call__``).
    call = getattr(func, "__call__", None)  # noqa: B004
    return check(func) or (not inspect.isroutine(func) and check(call))


def wrap(func: Callable[..., Any], obs: _Observer) -> Callable[..., Any]:
    """The traced version of ``func``, by its call shape."""
    if _is(inspect.isasyncgenfunction, func):
        return _wrap_async_generator(func, obs)
    if _is(inspect.iscoroutinefunction, func):
        return _wrap_coroutine(func, obs)
    if _is(inspect.isgeneratorfunction, func):
        return _wrap_generator(func, obs)
    return _wrap_function(func, obs)
