"""spanlink-plugin-cost: the USD cost of LLM spans from LiteLLM's model price map.

Registered through the entry point ``cost`` in group ``spanlink``; the hooks live in
``spanlink.plugins.cost.plugin``. Importing this package is cheap (LiteLLM is never imported;
its price map is read on first use). The helpers below price spans the way the plugin does.
"""

from spanlink.plugins.cost.calculate import TokenUsage, compute_cost
from spanlink.plugins.cost.plugin import span_cost, trace_cost
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
