"""Retry policy pieces: Retry-After parsing and full-jitter backoff bounds."""

from __future__ import annotations

import email.utils
import random

import pytest

from spanlink.exporter._retry import RETRYABLE_STATUS, parse_retry_after
from spanlink.tracer.support import backoff_delay


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("-3", None),
        ("soon", None),
        ("1.5", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_dates() -> None:
    now = 1_750_000_000.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(future, now=now) == pytest.approx(30.0)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00", now=now) is None  # no zone


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rng = random.Random(3)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        # The shared helper counts attempts from 1 (the first retry).
        delays = [backoff_delay(attempt + 1, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not fixed
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0


def test_retryable_statuses_follow_the_otlp_spec() -> None:
    assert frozenset({408, 429, 502, 503, 504}) == RETRYABLE_STATUS
