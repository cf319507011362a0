"""Test context and session context, in ``contextvars`` and in W3C baggage.

``test_context(...)`` marks the code that runs one test case; ``session(...)`` marks a user
session or conversation. ``SpanlinkProcessor`` stamps both onto every span started inside
the block, including spans made by other instrumentations. Both are also written to W3C
baggage, so a downstream service that receives the request through standard propagation
(and runs ``SpanlinkProcessor``) links its spans to the same test result. A child process
gets the same through ``TRACEPARENT``/``TRACESTATE``/``BAGGAGE`` environment variables
(``context_environment()`` in the parent; ``configure()`` attaches them in the child).
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ParamSpec, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spanlink.tracer.semconv import attributes as a

__all__ = [
    "ContextThreadPoolExecutor",
    "SessionContext",
    "TestContext",
    "attach_environment_context",
    "context_environment",
    "current_session",
    "current_test_context",
    "session",
    "span_attributes_from_context",
    "test_context",
    "with_current_context",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TestContext:
    """Identifies the test a piece of work belongs to. Any field may be None."""

    __test__ = False  # not a pytest test class

    run_id: str | None = None
    case_id: str | None = None
    result_id: str | None = None
    configuration_id: str | None = None

    def attributes(self) -> dict[str, str]:
        """The ``spanlink.test.*`` span attributes for the fields that are set."""
        values = (self.run_id, self.case_id, self.result_id, self.configuration_id)
        return {
            key: value
            for key, value in zip(a.TEST_CONTEXT_ATTRIBUTES, values, strict=True)
            if value is not None
        }

    def as_dict(self) -> dict[str, str | None]:
        """Plain dict form, e.g. for a message."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SessionContext:
    """A user session / conversation. Any field may be None."""

    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None

    def attributes(self) -> dict[str, str]:
        """The ``session.id`` / ``user.id`` / ``gen_ai.conversation.id`` attributes that are set."""
        pairs = (
            (a.SESSION_ID, self.session_id),
            (a.USER_ID, self.user_id),
            (a.GEN_AI_CONVERSATION_ID, self.conversation_id),
        )
        return {key: value for key, value in pairs if value is not None}


_test_context: contextvars.ContextVar[TestContext | None] = contextvars.ContextVar(
    "spanlink_test_context", default=None
)
_session: contextvars.ContextVar[SessionContext | None] = contextvars.ContextVar(
    "spanlink_session", default=None
)

# Baggage keys carry exactly the span attribute names, so reading them back is a lookup.
_BAGGAGE_KEYS = (*a.TEST_CONTEXT_ATTRIBUTES, a.SESSION_ID, a.USER_ID, a.GEN_AI_CONVERSATION_ID)


def _check_ids(**values: Any) -> None:
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")


@contextmanager
def _activate(
    var: contextvars.ContextVar[Any], value: Any, baggage_items: Mapping[str, str]
) -> Iterator[Any]:
    ctx = otel_context.get_current()
    for key, item in baggage_items.items():
        ctx = baggage.set_baggage(key, item, context=ctx)
    otel_token = otel_context.attach(ctx)
    var_token = var.set(value)
    try:
        yield value
    finally:
        var.reset(var_token)
        otel_context.detach(otel_token)


@contextmanager
def test_context(
    run_id: str | None = None,
    case_id: str | None = None,
    result_id: str | None = None,
    configuration_id: str | None = None,
) -> Iterator[TestContext]:
    """Run the block as part of a test: every span started inside is linked to it.

    Fields not given are inherited from an enclosing ``test_context``. Works in sync and
    async code (each asyncio task has its own copy); nothing is left behind after the
    block, also when it raises.
    """
    _check_ids(
        run_id=run_id, case_id=case_id, result_id=result_id, configuration_id=configuration_id
    )
    outer = _test_context.get() or TestContext()
    value = TestContext(
        run_id=run_id if run_id is not None else outer.run_id,
        case_id=case_id if case_id is not None else outer.case_id,
        result_id=result_id if result_id is not None else outer.result_id,
        configuration_id=configuration_id
        if configuration_id is not None
        else outer.configuration_id,
    )
    with _activate(_test_context, value, value.attributes()):
        yield value


test_context.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


@contextmanager
def session(
    session_id: str | None = None,
    user_id: str | None = None,
    conversation_id: str | None = None,
) -> Iterator[SessionContext]:
    """Mark the block as part of a user session and/or conversation.

    Spans started inside carry ``session.id``, ``user.id`` and ``gen_ai.conversation.id``.
    Fields not given are inherited from an enclosing ``session``.
    """
    _check_ids(session_id=session_id, user_id=user_id, conversation_id=conversation_id)
    outer = _session.get() or SessionContext()
    value = SessionContext(
        session_id=session_id if session_id is not None else outer.session_id,
        user_id=user_id if user_id is not None else outer.user_id,
        conversation_id=conversation_id if conversation_id is not None else outer.conversation_id,
    )
    with _activate(_session, value, value.attributes()):
        yield value


def current_test_context() -> TestContext | None:
    """The active test context, or None outside ``test_context``."""
    return _test_context.get()


def current_session() -> SessionContext | None:
    """The active session context, or None outside ``session``."""
    return _session.get()


def span_attributes_from_context(
    parent_context: otel_context.Context | None = None,
) -> dict[str, str]:
    """Attributes to stamp on a span starting now.

    The in-process context wins; otherwise the values come from W3C baggage in
    ``parent_context`` (or the current context), which is how a downstream service
    receives them.
    """
    result: dict[str, str] = {}
    entries = baggage.get_all(parent_context)
    if entries:
        for key in _BAGGAGE_KEYS:
            value = entries.get(key)
            if isinstance(value, str):
                result[key] = value
    test = _test_context.get()
    if test is not None:
        result.update(test.attributes())
    current = _session.get()
    if current is not None:
        result.update(current.attributes())
    return result


def with_current_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so that it runs in a copy of the caller's context (test, session, span).

    Use it to hand work to threads the context would not reach otherwise::

        executor.submit(with_current_context(work), item)
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the submitter's context.

    Test context, session and the active span follow each task into its worker thread.
    """

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


#: The environment variables a child process inherits its trace context from, spelled as the
#: W3C headers in upper case (the convention of OpenTelemetry's environment carrier).
ENVIRONMENT_CARRIER = ("TRACEPARENT", "TRACESTATE", "BAGGAGE")
_environment_lock = threading.Lock()
_environment_attached = False


def context_environment(context: otel_context.Context | None = None) -> dict[str, str]:
    """``TRACEPARENT``/``TRACESTATE``/``BAGGAGE`` for the current (or given) context.

    Merge the result into a child process's environment so that its spans join this
    trace and carry this test context::

        subprocess.run(cmd, env={**os.environ, **context_environment()})
    """
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context)
    W3CBaggagePropagator().inject(carrier, context=context)
    return {key.upper(): value for key, value in carrier.items()}


def attach_environment_context(environ: Mapping[str, str] | None = None) -> bool:
    """Make the trace context inherited through ``TRACEPARENT``/``BAGGAGE`` the current one.

    Spans started afterwards in this thread are children of the parent process's span
    and carry its test context (from the baggage). Done once per process; True when a
    context was attached now.
    """
    global _environment_attached
    values = environ if environ is not None else os.environ
    carrier = {key.lower(): values[key] for key in ENVIRONMENT_CARRIER if values.get(key)}
    if "traceparent" not in carrier and "baggage" not in carrier:
        return False
    with _environment_lock:
        if _environment_attached:
            return False
        ctx = TraceContextTextMapPropagator().extract(carrier)
        ctx = W3CBaggagePropagator().extract(carrier, context=ctx)
        # Never detached: the inherited context is this process's outermost one.
        otel_context.attach(ctx)
        _environment_attached = True
    return True
