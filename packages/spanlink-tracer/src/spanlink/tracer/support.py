"""Small helpers that spanlink's own distributions share (exporter, endpoint, receiver, plugins).

Written once here so that every package retries, warns, reads its environment variables
and bounds numbers the same way.
They are stable enough to use, but they are not the tracing API: that is ``spanlink.tracer``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Mapping

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "WarnOnce",
    "backoff_delay",
    "clamp_int64",
    "env_setting",
    "env_value",
    "saturating_add",
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
