"""Retry policy: which failures are worth another try and ``Retry-After``.

The backoff itself (``backoff_delay``) and ``parse_retry_after`` live in
``spanlink.tracer.support``, shared by every package.
"""

from __future__ import annotations

from spanlink.tracer.support import parse_retry_after

__all__ = ["RETRYABLE_STATUS", "parse_retry_after"]

#: Statuses the OTLP/HTTP specification marks retryable (plus 408, a timeout by the server).
RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})
