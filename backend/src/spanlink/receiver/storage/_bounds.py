"""Bounds on what goes into indexed columns and integer columns.

A b-tree index entry holds at most ~2,700 bytes (a third of a page), so one over-long span
name, service name or test id would make Postgres refuse the whole batch it arrived in —
every time it is re-sent. Indexed text is therefore cut to :data:`MAX_INDEXED_BYTES` of
UTF-8 (two such columns share an index and still fit), and a cut value ends with a digest
of the whole one, so two long values that share a prefix stay distinct and the same long
value always maps to the same stored text (ingest, linking and query filters all use
:func:`bound_indexed`). The full value stays where it came from (attributes, resource).

Integers that feed ``bigint`` columns and their sums are clamped into the signed 64-bit
range (:func:`bigint_or_none`); the SQL rollups saturate the same way.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, overload

from spanlink.tracer.support import INT64_MAX

__all__ = ["MAX_INDEXED_BYTES", "bigint_or_none", "bound_indexed"]

#: Longest text, in UTF-8 bytes, stored in an indexed column (span name, environment,
#: service name, ``spanlink.test.*`` ids, test case ids).
MAX_INDEXED_BYTES = 1024

# Suffix of a cut value: an ellipsis and 16 hex digits (64 bits) of the value's SHA-256.
_DIGEST_HEX = 16
_ELLIPSIS = "\u2026"
_KEEP_BYTES = MAX_INDEXED_BYTES - len(_ELLIPSIS.encode()) - _DIGEST_HEX
# Below this many characters no text can exceed the byte bound (4 bytes per character).
_SAFE_CHARS = MAX_INDEXED_BYTES // 4


@overload
def bound_indexed(value: str) -> str: ...
@overload
def bound_indexed(value: None) -> None: ...
def bound_indexed(value: str | None) -> str | None:
    """``value`` if it fits an indexed column, else its first bytes, ``…`` and a digest.

    Deterministic (the same value always gives the same text) and at most
    :data:`MAX_INDEXED_BYTES` UTF-8 bytes.
    """
    if value is None or len(value) <= _SAFE_CHARS:
        return value
    # surrogatepass: a lone surrogate must not make bounding fail (storage rejects it later
    # with a clear message, or it was replaced before).
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_INDEXED_BYTES:
        return value
    head = encoded[:_KEEP_BYTES].decode("utf-8", "ignore")  # never half a character
    digest = hashlib.sha256(encoded).hexdigest()[:_DIGEST_HEX]
    return f"{head}{_ELLIPSIS}{digest}"


def bigint_or_none(value: Any) -> int | None:
    """A count for a ``bigint`` column: integers (and integral floats) clamped to
    ``[0, INT64_MAX]``; anything else (text, booleans, NaN, negative numbers) is None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0 or not value.is_integer():
            return None
        return INT64_MAX if value >= INT64_MAX else int(value)
    if not isinstance(value, int) or value < 0:
        return None
    return INT64_MAX if value > INT64_MAX else value
