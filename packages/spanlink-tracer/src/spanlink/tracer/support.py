"""Small helpers that spanlink's own distributions share (exporter, endpoint, receiver, plugins).

Written once here so that every package retries, warns, reads its environment variables,
bounds numbers and waits on a call with a deadline the same way.
They are stable enough to use, but they are not the tracing API: that is ``spanlink.tracer``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "WarnOnce",
    "backoff_delay",
    "clamp_int64",
    "env_setting",
    "env_value",
    "parse_retry_after",
    "run_with_deadline",
    "saturating_add",
    "span_with_attributes",
]

#: The bounds of a signed 64-bit integer: OTLP ``int_value``, a Postgres ``bigint``.
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def clamp_int64(value: int) -> int:
    """``value`` saturated into the signed 64-bit range."""
    return INT64_MAX if value > INT64_MAX else INT64_MIN if value < INT64_MIN else value


def saturating_add(a: int, b: int) -> int:
    """``a + b`` saturated into the signed 64-bit range (token sums never overflow a column)."""
    return clamp_int64(a + b)


def backoff_delay(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry ``attempt`` (1 for the first retry, 2, ...).

    Exponential backoff with full jitter: uniform in
    ``[0, min(max_s, initial_s * 2 ** (attempt - 1))]``. Full jitter spreads the retries of
    many clients hit by the same outage instead of bringing them back in lockstep.
    """
    exponent = min(max(attempt - 1, 0), 62)
    ceiling = min(max_s, initial_s * (2**exponent))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Environment variable ``name`` without surrounding blanks; None when unset or blank.

    The one rule for blank values in every spanlink package: ``NAME=`` and ``NAME="  "``
    mean the same as an unset ``NAME``. ``environ`` defaults to ``os.environ``.
    """
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return None
    return value.strip() or None


def env_setting(argument: str | None, name: str) -> str | None:
    """``argument`` when given (arguments always win), else :func:`env_value` of ``name``."""
    return argument if argument else env_value(name)


class WarnOnce:
    """Logs each distinct warning once per process, so a failure on a hot path never floods logs.

    ``WarnOnce(logger)("key", "message %s", arg)`` logs the first time ``key`` is seen and
    is silent afterwards; ``exc_info=True`` attaches the current exception.
    """

    __slots__ = ("_lock", "_logger", "_seen")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``message`` unless ``key`` was logged before; True when it logged."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        self._logger.warning(message, *args, exc_info=exc_info)
        return True

    def reset(self) -> None:
        """Forget what was logged (for tests)."""
        with self._lock:
            self._seen.clear()


def run_with_deadline(
    fn: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    logger: logging.Logger | None = None,
    warn_late: bool = True,
) -> tuple[bool, Any]:
    """Run ``fn`` in a daemon thread and wait at most ``timeout_s`` seconds for it.

    Returns ``(finished, result)``. A call that overruns keeps running in the background
    (it cannot be killed) but never holds up the caller; an exception counts as not
    finished and is logged on ``logger`` (default ``spanlink.tracer``), as is an overrun
    unless ``warn_late`` is False (the caller says what happens instead).
    """
    log = logger or logging.getLogger("spanlink.tracer")
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(fn())
        except Exception:
            log.exception("spanlink: %s failed", what)

    thread = threading.Thread(target=target, name=f"spanlink-{what}", daemon=True)
    thread.start()
    thread.join(max(0.0, timeout_s))
    if thread.is_alive():
        if warn_late:
            log.warning("spanlink: %s did not finish within %.1f s; continuing", what, timeout_s)
        return False, None
    if not outcome:
        return False, None
    return True, outcome[0]


def span_with_attributes(
    span: ReadableSpan, attributes: Mapping[str, Any], events: Sequence[Event] | None = None
) -> ReadableSpan:
    """A copy of a finished ``span`` with other attributes (and events); all else kept."""
    return ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
