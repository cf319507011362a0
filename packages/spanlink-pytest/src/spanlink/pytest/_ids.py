"""Trace and span ids that test plugins reseeding ``random`` cannot repeat.

OpenTelemetry's default generator draws from the global ``random`` module; plugins such as
pytest-randomly reseed it before every test, so every test would get the same ids and the
receiver would keep one span per id. The plugin's own provider draws from a private
generator seeded from the OS instead.
"""

from __future__ import annotations

import os
import random

from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID

__all__ = ["PrivateIdGenerator"]


class PrivateIdGenerator(IdGenerator):
    """Random W3C ids from a private ``random.Random`` (never reseeded by tests)."""

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))

    def generate_span_id(self) -> int:
        span_id = self._random.getrandbits(64)
        while span_id == INVALID_SPAN_ID:
            span_id = self._random.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = self._random.getrandbits(128)
        while trace_id == INVALID_TRACE_ID:
            trace_id = self._random.getrandbits(128)
        return trace_id
