"""The price-table entry schema, shared by every host and plugin that reads price tables.

A price table maps a model name pattern to USD per-token prices::

    {"my-finetune-*": {"input": 3e-06, "output": 1.2e-05, "cache_read": 1.5e-06}}

``input`` and ``output`` are required; ``cache_read``, ``cache_creation`` and ``reasoning``
are optional. LiteLLM's key names are accepted as aliases (:data:`PRICE_FIELDS`). Hosts check
the table around the entries (its size, its patterns) by their own rules; the prices of one
entry are checked here, once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["PRICE_FIELDS", "PriceTableError", "check_prices"]

#: Accepted price names -> the price they set: ours first, then LiteLLM's spelling.
PRICE_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "input": "input",
        "output": "output",
        "cache_read": "cache_read",
        "cache_creation": "cache_creation",
        "reasoning": "reasoning",
        "input_cost_per_token": "input",
        "output_cost_per_token": "output",
        "cache_read_input_token_cost": "cache_read",
        "cache_creation_input_token_cost": "cache_creation",
        "output_cost_per_reasoning_token": "reasoning",
    }
)
_REQUIRED = ("input", "output")


class PriceTableError(ValueError):
    """A price table is malformed; the message names the entry and what to fix."""


def check_prices(pattern: str, entry: Mapping[str, Any], where: str = "") -> dict[str, float]:
    """The prices of one entry as floats, keyed by the name they set (``input``, ...).

    Raises :class:`PriceTableError` for an unknown name, a value that is not a finite
    number >= 0, or a missing ``input``/``output``. ``where`` prefixes every message (e.g.
    ``"SPANLINK_PRICES: "``).
    """
    values: dict[str, float] = {}
    for name, value in entry.items():
        target = PRICE_FIELDS.get(name)
        if target is None:
            raise PriceTableError(
                f"{where}unknown price {name!r} for {pattern!r}; allowed: {', '.join(PRICE_FIELDS)}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PriceTableError(
                f"{where}{pattern!r}.{name} must be a number (USD per token), got {value!r}"
            )
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise PriceTableError(
                f"{where}{pattern!r}.{name} must be a finite number >= 0 (USD per token), "
                f"got {value!r}"
            )
        values[target] = number
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        raise PriceTableError(
            f"{where}{pattern!r} needs {' and '.join(missing)} (USD per token; "
            "use 0 for a price that does not apply)"
        )
    return values
