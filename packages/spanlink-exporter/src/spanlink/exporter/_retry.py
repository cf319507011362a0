"""Retry policy: which failures are worth another try and ``Retry-After``.

The backoff itself is ``spanlink.tracer.support.backoff_delay``, shared by every package.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUS", "parse_retry_after"]

#: Statuses the OTLP/HTTP specification marks retryable (plus 408, a timeout by the server).
RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})


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
