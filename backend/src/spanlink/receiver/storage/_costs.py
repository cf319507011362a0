"""What a trace cost, read from its stored enrichment: one rule for every place a cost is
shown or summed (trace list and detail, test-run results, comparisons, metrics).

The ``cost`` plugin's trace result (``data["trace"]["cost"]``) has ``total_cost`` and
``complete`` (False when some model call could not be priced: an unknown model, no token
counts). A cost is known only when it is complete; an unknown cost is ``None``, never 0:

- enrichment stored, cost result complete: ``total_cost``;
- enrichment stored, no cost result: the trace called no model; it has no cost (``None``)
  and adds nothing to a sum;
- cost result incomplete, or no enrichment yet: unknown, and so is any sum it is part of.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TraceCost", "cost_result", "sum_costs", "trace_cost"]

_PLUGIN = "cost"


@dataclass(frozen=True, slots=True)
class TraceCost:
    """The cost of one trace: ``usd`` (None: none or unknown) and whether it is ``known``."""

    usd: float | None
    known: bool


_UNKNOWN = TraceCost(None, known=False)
_NO_MODEL_CALLS = TraceCost(None, known=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def trace_cost(enrichment: Any) -> TraceCost:
    """The cost of a trace from its stored enrichment ``data`` (None: not enriched yet)."""
    if not isinstance(enrichment, Mapping):
        return _UNKNOWN
    trace = enrichment.get("trace")
    cost = trace.get(_PLUGIN) if isinstance(trace, Mapping) else None
    return cost_result(cost)


def cost_result(cost: Any) -> TraceCost:
    """The cost from the ``cost`` plugin's trace result itself (None: no model call)."""
    if cost is None:
        return _NO_MODEL_CALLS
    if not isinstance(cost, Mapping) or cost.get("complete") is not True:
        return _UNKNOWN
    total = _number(cost.get("total_cost"))
    return TraceCost(total, known=True) if total is not None else _UNKNOWN


def sum_costs(costs: Iterable[TraceCost]) -> float | None:
    """The total of several traces' costs: None when any is unknown or none has a cost."""
    values = []
    for cost in costs:
        if not cost.known:
            return None
        if cost.usd is not None:
            values.append(cost.usd)
    return math.fsum(values) if values else None
