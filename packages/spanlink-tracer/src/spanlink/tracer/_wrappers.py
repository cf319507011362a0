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
#: What is kept is bounded as if measured every _BLOCK chunks; measuring it takes one pass
#: every _MEASURE_EVERY chunks (and one at the end), exact block by block only when a
#: bound was crossed.
_BLOCK: Final = 32
_MEASURE_EVERY: Final = 128


class _Feed:
    """A sink that keeps a chunk (in ``into``) and feeds it to the usage accumulator."""

    __slots__ = ("feed", "into")

    def __init__(self, into: Any, feed: Callable[[Any], None]) -> None:
        self.into = into
        self.feed = feed

    def append(self, item: Any) -> None:
        self.into.append(item)
        self.feed(item)


def _size(chunks: list[Any]) -> int:
    try:  # text chunks (the common case): measured in one C-level pass
        return len("".join(chunks))
    except TypeError:
        return sum(len(c) if type(c) is str else 32 for c in chunks)


class _Chunks:
    """What a stream yielded: counted, kept for the output and fed to the usage accumulator.

    This runs once per chunk, so the wrappers inline the common path: count, append the
    chunk to ``sink`` and compare the count with ``limit``. ``sink`` is the kept list, or
    a deque that keeps nothing once keeping stopped (both appended to at C speed), or a
    :class:`_Feed` when an accumulator needs the chunks too. Keeping stops at the end of
    the first block of 32 chunks where the kept size reaches the budget or the count
    reaches 1,024; :meth:`check` (every 128 chunks) and :meth:`finish` find that block.
    """

    __slots__ = (
        "accumulator",
        "budget",
        "kept",
        "limit",
        "measured",
        "sink",
        "stopped",
        "used",
    )

    def __init__(self, obs: _Observer, capture: bool) -> None:
        kept: list[Any] | None = [] if capture and obs.capture_output else None
        self.kept = kept
        self.budget = content.content_config().max_bytes
        self.used = 0  # size of kept[:measured]
        self.measured = 0
        self.stopped = kept is None
        self.limit = _NEVER if kept is None else _MEASURE_EVERY  # the first count to check at
        self.accumulator = StreamAccumulator() if obs.accumulate else None
        into = _DISCARD if kept is None else kept
        self.sink = into if self.accumulator is None else _Feed(into, self.accumulator.feed)

    def _sink(self, into: Any) -> Any:
        return into if self.accumulator is None else _Feed(into, self.accumulator.feed)

    def check(self, count: int) -> tuple[int, Any]:
        """Measure what was kept; the next count to check at and the sink to use (one
        that keeps nothing once keeping stopped)."""
        if self.stopped or self._measure(None):
            return count + _NEVER, self.sink
        return count + _MEASURE_EVERY, self.sink

    def _measure(self, total: int | None) -> bool:
        """Measure the complete blocks kept since the last time; True when keeping stops.

        ``total``, when given, is the size of everything kept: below the budget, no block
        can have reached it.
        """
        kept = self.kept
        assert kept is not None
        end = len(kept) - len(kept) % _BLOCK
        if end <= self.measured:
            return False
        if end < _MAX_KEPT_CHUNKS:
            used = total if total is not None else self.used + _size(kept[self.measured : end])
            if used < self.budget:
                if total is None:
                    self.used, self.measured = used, end
                return False
        # A bound was crossed: find the block at whose end keeping stops, drop what follows.
        used = self.used
        for block in range(self.measured, end, _BLOCK):
            used += _size(kept[block : block + _BLOCK])
            if used >= self.budget or block + _BLOCK >= _MAX_KEPT_CHUNKS:
                del kept[block + _BLOCK :]
                break
        self.stopped = True
        self.sink = self._sink(_DISCARD)
        return True

    def output(self, count: int) -> Any:
        """What the stream yielded as the output to record (None when not kept): text
        chunks joined, other chunks as a list; marked when chunks were dropped."""
        kept = self.kept
        if kept is None:
            return None
        try:  # text chunks are joined into one output
            text = "".join(kept)
        except TypeError:
            if not self.stopped:
                self._measure(None)
            if count > len(kept):
                kept.append(f"… {count - len(kept)} more chunks")
            return kept
        # Below both bounds in all (the common case), no block reached one.
        if (
            (len(text) >= self.budget or len(kept) >= _MAX_KEPT_CHUNKS)
            and not self.stopped
            and self._measure(len(text))
        ):
            text = "".join(kept)
        if not kept:
            return kept
        return text + "…" if count > len(kept) else text

    def finish(self, obs: _Observer, span: trace.Span, capture: bool, count: int) -> None:
        try:
            output = self.output(count)
        except Exception:
            _warn_once(
                "output", "spanlink: could not record the output of a generator", exc_info=True
            )
            output = None
        obs.finish_stream(span, count, output, self.accumulator, capture)


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
