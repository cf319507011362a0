"""Small statistics for comparison summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["describe"]


def describe(values: Sequence[float]) -> dict[str, float | None]:
    """``mean``, nearest-rank ``p95`` and ``total`` of ``values`` (None each when empty)."""
    if not values:
        return {"mean": None, "p95": None, "total": None}
    ordered = sorted(values)
    total = math.fsum(ordered)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return {"mean": total / len(ordered), "p95": ordered[rank - 1], "total": total}
