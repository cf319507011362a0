"""Run one invocation: bind arguments, call the function traced, report a ``Result``.

The call runs inside ``test_context(...)`` from the ``invoke`` message and under an
``observe`` root span named after the function, so every span it produces (also from other
instrumentations, threads started with the context, and downstream services through W3C
baggage) carries the test context and shares one trace id. Sync functions and sync
generators run in a thread pool with the context copied; the event loop is never blocked.
The invocation has a deadline; at the end its spans are force-flushed (bounded) so that
they are stored before the result is reported. Whatever happens, the caller gets a
``Result``: this module never lets a user's exception escape.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from spanlink.endpoint._arguments import InvalidArguments
from spanlink.endpoint._counting import span_counter
from spanlink.endpoint._output import bounded_output
from spanlink.endpoint._registry import Endpoint
from spanlink.endpoint._streaming import ChunkStream
from spanlink.protocol import ErrorInfo, Invoke, Result, ResultStatus
from spanlink.tracer import observe, test_context
from spanlink.tracer.model import format_trace_id
from spanlink.tracer.semconv import attributes as a

__all__ = [
    "ATTR_FUNCTION",
    "ATTR_INVOCATION_ID",
    "Invocation",
    "Runner",
]

logger = logging.getLogger("spanlink.endpoint")

#: Root span attribute: the endpoint function name.
ATTR_FUNCTION: Final = "spanlink.endpoint.function"
#: Root span attribute: the invocation id of the ``invoke`` message.
ATTR_INVOCATION_ID: Final = "spanlink.endpoint.invocation_id"

_MAX_ERROR_CHARS: Final = 4000
_NO_PARAMETERS: Final = inspect.Signature()
# How long a cancelled call may take to unwind before we report without waiting for it.
_UNWIND_S: Final = 1.0


class Invocation:
    """One ``invoke`` being handled; :meth:`cancel` stops it (status ``cancelled``)."""

    def __init__(self, message: Invoke) -> None:
        self.message = message
        self.cancel_reason: str | None = None
        self._cancelled = asyncio.Event()

    @property
    def invocation_id(self) -> str:
        """The id the ``result`` must carry."""
        return self.message.invocation_id

    def cancel(self, reason: str) -> None:
        """Ask the invocation to stop; its result will say ``cancelled`` with ``reason``."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self._cancelled.set()


def _error(error_type: str, message: str) -> ErrorInfo:
    if len(message) > _MAX_ERROR_CHARS:
        message = message[:_MAX_ERROR_CHARS] + "...[truncated]"
    return ErrorInfo(type=error_type, message=message)


def _exception_info(exc: BaseException) -> ErrorInfo:
    try:
        text = str(exc)
    except Exception:
        text = "<str() of the exception raised>"
    return _error(type(exc).__qualname__, text or type(exc).__qualname__)


def _join(chunks: list[Any]) -> Any:
    if chunks and all(isinstance(chunk, str) for chunk in chunks):
        return "".join(chunks)
    return chunks


@dataclass(frozen=True, kw_only=True)
class Runner:
    """Runs invocations; shared by every connection of one client.

    ``executor`` runs sync functions and generators, ``flush_executor`` the bounded span
    flush; ``default_timeout_s`` is the deadline of an invocation that gives none.
    """

    executor: Executor
    default_timeout_s: float
    max_output_bytes: int
    flush_timeout_s: float
    flush_executor: Executor | None = None
    count_spans: bool = True

    def failed(self, invocation_id: str, error: ErrorInfo, started: float) -> Result:
        """A ``Result`` with status ``error`` for an invocation that could not run."""
        return Result(
            invocation_id=invocation_id,
            status="error",
            error=error,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def run(
        self,
        item: Endpoint | None,
        invocation: Invocation,
        names: list[str],
        max_output_bytes: int | None = None,
        stream: ChunkStream | None = None,
    ) -> Result:
        """Run ``invocation`` against ``item`` (None: unknown function) and report.

        ``names`` (the registered names) goes into the unknown-function message;
        ``max_output_bytes`` overrides the runner's output limit for this call; ``stream``
        gets a generator's chunks as they are produced (the result then says how many).
        """
        message = invocation.message
        started = time.perf_counter()
        if item is None:
            return self.failed(
                message.invocation_id,
                _error(
                    "UnknownFunction",
                    f"no function named {message.function!r} is registered on this endpoint "
                    f"(registered: {names}); check the name or decorate it with @endpoint",
                ),
                started,
            )
        try:
            args, kwargs = item.binder.bind(item.name, message.arguments)
        except InvalidArguments as invalid:
            return self.failed(
                message.invocation_id, _error("InvalidArguments", str(invalid)), started
            )

        timeout = message.timeout_s or self.default_timeout_s
        trace_ids: list[int] = []
        outcome: dict[str, str] = {}
        counter = span_counter() if self.count_spans else None

        async def root(**_captured: Any) -> Any:
            # _captured holds the JSON arguments only so that observe records them as input.
            span = trace.get_current_span()
            context = span.get_span_context()
            if context.is_valid:
                trace_ids.append(context.trace_id)
                if counter is not None:
                    counter.watch(context.trace_id)
            try:
                return await self._call(item, args, kwargs, stream)
            except asyncio.CancelledError:
                reason = outcome.get("status", "cancelled")
                span.set_status(Status(StatusCode.ERROR, f"invocation {reason}"))
                span.set_attribute(a.ERROR_TYPE, "TimeoutError" if reason == "timeout" else reason)
                raise

        # No declared parameters: observe then records the keyword arguments as they are
        # (the invocation's JSON arguments) instead of under the name "_captured".
        root.__signature__ = _NO_PARAMETERS  # type: ignore[attr-defined]
        traced = observe(
            name=item.name,
            kind="function",
            attributes={ATTR_FUNCTION: item.name, ATTR_INVOCATION_ID: message.invocation_id},
        )(root)
        # The one place the wire's test context becomes the tracer's (same field names).
        with test_context(**message.test_context):
            # The task copies the context now: test context and baggage go with it.
            task = asyncio.ensure_future(traced(**message.arguments))
        cancel_wait = asyncio.ensure_future(invocation._cancelled.wait())
        try:
            done, _ = await asyncio.wait(
                {task, cancel_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            cancel_wait.cancel()
        duration_ms = (time.perf_counter() - started) * 1000.0

        status: ResultStatus
        output: Any = None
        truncated = False
        error: ErrorInfo | None = None
        if task in done:
            exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
            if exc is None:
                status = "success"
                output, truncated = bounded_output(
                    task.result(), max_output_bytes or self.max_output_bytes
                )
            elif isinstance(exc, asyncio.CancelledError):
                status, error = "cancelled", _error("Cancelled", "the function was cancelled")
            else:
                status, error = "error", _exception_info(exc)
        else:
            if invocation._cancelled.is_set():
                status = "cancelled"
                error = _error("Cancelled", invocation.cancel_reason or "cancelled")
            else:
                status = "timeout"
                error = _error(
                    "TimeoutError",
                    f"{item.name!r} did not finish within {timeout:g} s; raise the test "
                    "case's timeout or make the function faster",
                )
            outcome["status"] = status
            task.cancel()
            # Give the call a moment to unwind so its root span ends and gets flushed;
            # code that ignores cancellation (or a sync call in a thread) is not awaited.
            await asyncio.wait({task}, timeout=_UNWIND_S)

        span_count: int | None = None
        if trace_ids:
            await self._flush()
            if counter is not None:
                span_count = counter.release(trace_ids[0])
        return Result(
            invocation_id=message.invocation_id,
            status=status,
            output=output,
            error=error,
            duration_ms=duration_ms,
            trace_id=format_trace_id(trace_ids[0]) if trace_ids else None,
            span_count=span_count,
            output_truncated=truncated,
            chunk_count=stream.count if stream is not None and stream.count else None,
        )

    async def _call(
        self,
        item: Endpoint,
        args: list[Any],
        kwargs: dict[str, Any],
        stream: ChunkStream | None = None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        func = item.func
        push = stream.push if stream is not None else None
        push_threadsafe = stream.push_threadsafe if stream is not None else None
        if item.style == "async_generator":
            return _join(await _collect(func(*args, **kwargs), push))
        if item.style == "async":
            value = await func(*args, **kwargs)
        elif item.style == "generator":
            return _join(
                await loop.run_in_executor(
                    self.executor, _drain, func(*args, **kwargs), push_threadsafe
                )
            )
        else:
            # run_in_executor submits from this task, so a context-copying executor
            # carries the test context and the root span into the worker thread.
            value = await loop.run_in_executor(
                self.executor, functools.partial(func, *args, **kwargs)
            )
        # A plain function may still hand back something to finish (a decorated coroutine,
        # a generator object, an async iterator...).
        if inspect.isawaitable(value):
            value = await value
        if inspect.isgenerator(value):
            return _join(await loop.run_in_executor(self.executor, _drain, value, push_threadsafe))
        if inspect.isasyncgen(value):
            return _join(await _collect(value, push))
        return value

    async def _flush(self) -> None:
        provider = trace.get_tracer_provider()
        force_flush: Callable[[int], Any] | None = getattr(provider, "force_flush", None)
        if force_flush is None:
            return
        millis = int(self.flush_timeout_s * 1000)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.flush_executor, force_flush, millis)
        try:
            done = await asyncio.wait_for(asyncio.shield(future), self.flush_timeout_s + 0.5)
        except asyncio.TimeoutError:
            logger.warning(
                "spanlink: spans of an invocation were not flushed within %.1f s; reporting "
                "the result anyway (its spans may arrive later)",
                self.flush_timeout_s,
            )
            return
        except Exception:
            logger.exception("spanlink: flushing the spans of an invocation failed")
            return
        if done is False:
            logger.warning("spanlink: the tracer provider could not flush every span in time")


def _drain(chunks: Iterator[Any], push: Callable[[Any], None] | None) -> list[Any]:
    """Run a sync generator to its end (in a worker thread), handing each chunk to ``push``."""
    collected: list[Any] = []
    for chunk in chunks:
        collected.append(chunk)
        if push is not None:
            push(chunk)
    return collected


async def _collect(chunks: AsyncIterator[Any], push: Callable[[Any], None] | None) -> list[Any]:
    collected: list[Any] = []
    async for chunk in chunks:
        collected.append(chunk)
        if push is not None:
            push(chunk)
    return collected
