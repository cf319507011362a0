"""The per-project price table the API accepts: the tracer's entry schema, the API's limits.

A price table maps a model name pattern (a glob such as ``my-finetune-*``, matched
case-insensitively by the cost plugin) to USD per-token prices::

    {"my-finetune-*": {"input": 3e-06, "output": 1.2e-05, "cache_read": 1.5e-06}}

The prices of an entry are checked by :func:`spanlink.tracer.prices.check_prices` (the one
schema hosts and the cost plugin share). The table is handed to the plugins as
``context["prices"]`` when this project's traces are enriched, and to no other project.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.tracer.prices import PRICE_FIELDS, PriceTableError, check_prices

__all__ = ["MAX_PATTERNS", "PRICE_FIELDS", "PriceTableError", "validate_price_table"]

#: Most patterns in one project's table.
MAX_PATTERNS = 1000


def validate_price_table(table: Any) -> dict[str, dict[str, float]]:
    """Check a price table and return it with float prices; raise ``PriceTableError``."""
    if not isinstance(table, Mapping):
        raise PriceTableError(
            f"prices must be an object of model pattern -> prices, got {type(table).__name__}"
        )
    if len(table) > MAX_PATTERNS:
        raise PriceTableError(f"at most {MAX_PATTERNS} model patterns, got {len(table)}")
    out: dict[str, dict[str, float]] = {}
    for pattern, entry in table.items():
        if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > 200:
            raise PriceTableError(f"model pattern must be 1 to 200 characters, got {pattern!r}")
        if "\x00" in pattern:
            raise PriceTableError(f"model pattern {pattern!r} must not contain NUL characters")
        try:
            pattern.encode("utf-8")
        except UnicodeEncodeError:
            raise PriceTableError(f"model pattern {pattern!r} is not valid Unicode") from None
        if not isinstance(entry, Mapping):
            raise PriceTableError(
                f"prices for {pattern!r} must be an object of per-token USD prices, got {entry!r}"
            )
        check_prices(pattern, entry)
        # Stored under the names the project used (ours or LiteLLM's), as it sent them.
        out[pattern] = {name: float(value) for name, value in entry.items()}
    return out
