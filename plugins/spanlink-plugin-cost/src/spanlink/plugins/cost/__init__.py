"""spanlink-plugin-cost: the USD cost of LLM spans from LiteLLM's model price map.

Registered through the entry point ``cost`` in group ``spanlink``; the hooks live in
``spanlink.plugins.cost.plugin``. Importing this package is cheap: the price map is read on
first use. The helpers below let other code price spans the same way the plugin does.
"""

from spanlink.plugins.cost.calculate import TokenUsage, compute_cost
from spanlink.plugins.cost.price_map import PriceMapError, candidate_names, default_price_map
from spanlink.plugins.cost.prices import (
    PRICES_ENV,
    Price,
    PriceError,
    PriceFileError,
    PriceTable,
    clear_price_file_cache,
    load_price_file,
    parse_price_table,
)

__all__ = [
    "PRICES_ENV",
    "Price",
    "PriceError",
    "PriceFileError",
    "PriceMapError",
    "PriceTable",
    "TokenUsage",
    "candidate_names",
    "clear_price_file_cache",
    "compute_cost",
    "default_price_map",
    "load_price_file",
    "parse_price_table",
    "span_cost",
    "trace_cost",
]


def __getattr__(name: str) -> object:
    # span_cost/trace_cost live with the hooks; import them on demand to keep this module light.
    if name in ("span_cost", "trace_cost"):
        from spanlink.plugins.cost import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
