"""The traced function that replaces a decorated one: one wrapper per call shape.

A call (plain function or coroutine) has its span current while it runs; a stream
(generator or async generator) keeps its span open for the whole iteration, makes it
current only while the generator runs, and ends it on exhaustion, ``close()`` or an
exception. What happens around the call lives in :class:`_Observer` and :class:`_Chunks`,
so each wrapper is only the control flow its shape needs.
"""

from __future__ import annotations

import collections
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


#: The limit when nothing is measured: counts stay small ints, compared at C speed.
_NEVER: Final = 2**30 - 1


class _Feed:
    """A sink that keeps a chunk (in ``into``) and feeds it to the usage accumulator."""

    __slots__ = ("feed", "into")

    def __init__(self, into: Any, feed: Callable[[Any], None]) -> None:
        self.into = into
        self.feed = feed

    def append(self, item: Any) -> None:
        self.into.append(item)
        self.feed(item)


class _Chunks:
    """What a stream yielded: counted, kept for the output and fed to the usage accumulator.

    This runs once per chunk, so the wrappers inline the common path: count, append the
    chunk to ``sink`` and compare the count with ``limit``. ``sink`` is the kept list, or
    a deque that keeps nothing once keeping stopped (both appended to at C speed), or a
    :class:`_Feed` when an accumulator needs the chunks too; :meth:`check` runs every 32
    chunks to bound what is kept by count and by size, and hands back the next limit and
    sink.
    """

    __slots__ = ("accumulator", "budget", "kept", "sink", "used")

    def __init__(self, obs: _Observer, capture: bool) -> None:
        self.kept: list[Any] | None = [] if capture and obs.capture_output else None
        self.budget = content.content_config().max_bytes
        self.used = 0
        self.accumulator = StreamAccumulator() if obs.accumulate else None
        self.sink = self._sink(self.kept if self.kept is not None else _DISCARD)

    @property
    def limit(self) -> int:
        """The first count to check at."""
        return 32 if self.kept is not None else _NEVER

    def _sink(self, into: Any) -> Any:
        return into if self.accumulator is None else _Feed(into, self.accumulator.feed)

    def check(self, count: int) -> tuple[int, Any]:
        """Every 32 chunks: add up the size kept so far; the next count to check at and the
        sink to use (one that keeps nothing past the budget)."""
        kept = self.kept
        if kept is None or self.used >= self.budget:
            return count + _NEVER, self.sink
        recent = kept[-32:]
        try:  # text chunks (the common case): measured in one C-level pass
            used = self.used + len("".join(recent))
        except TypeError:
            used = self.used + sum(len(c) if type(c) is str else 32 for c in recent)
        self.used = used
        if used >= self.budget or len(kept) >= _MAX_KEPT_CHUNKS:
            self.used = self.budget  # keeping stopped
            self.sink = self._sink(_DISCARD)
            return count + _NEVER, self.sink
        return count + 32, self.sink

    def finish(self, obs: _Observer, span: trace.Span, capture: bool, count: int) -> None:
        obs.finish_stream(span, count, self.kept, self.accumulator, capture)


#: Where chunks go once keeping stopped: a C-level append that keeps nothing.
_DISCARD: Final = collections.deque[Any](maxlen=0)


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
        sink, limit, count = chunks.sink, chunks.limit, 0
        try:
            gen = run(func, *args, **kwargs)
            send = gen.send
            try:
                item = run(send, None)
            except StopIteration as stop:
                return stop.value
            while True:
                count += 1
                sink.append(item)
                if count >= limit:
                    limit, sink = chunks.check(count)
                try:
                    value = yield item
                except GeneratorExit:
                    run(gen.close)
                    raise
                except BaseException as thrown:  # forwarded into the generator
                    try:
                        item = run(gen.throw, thrown)
                    except StopIteration as stop:
                        return stop.value
                    continue
                try:
                    item = run(send, value)
                except StopIteration as stop:
                    return stop.value
        except Exception as exc:
            _record_error(span, exc)
            raise
        finally:
            chunks.finish(obs, span, capture, count)
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
        sink, limit, count = chunks.sink, chunks.limit, 0
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
                sink.append(item)
                if count >= limit:
                    limit, sink = chunks.check(count)
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
            chunks.finish(obs, span, capture, count)
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
