"""Cost arithmetic for one model call, following the GenAI token conventions.

``gen_ai.usage.input_tokens`` *includes* cached tokens (cache reads and cache writes), so::

    input_cost          = (input - cache_read - cache_creation) * input price
    cache_read_cost     = cache_read * cache-read price      (input price if none is known)
    cache_creation_cost = cache_creation * cache-write price (input price if none is known)
    output_cost         = output * output price
    total_cost          = input_cost + cache_read_cost + cache_creation_cost + output_cost

Reasoning tokens are part of ``output_tokens`` (as OpenAI reports them), so
``reasoning_cost`` is the *share* of ``output_cost`` spent on reasoning, never added to the
total. When a model has its own reasoning price, those tokens are charged at it inside
``output_cost``.

Long-context prices (LiteLLM's ``*_above_200k_tokens``) apply to the whole call when its
input tokens exceed the threshold, as providers bill them; ``price_tier`` then names it.

Instrumentations that report input *without* the cached tokens (Anthropic's native
convention) are recognised when the cache counts exceed the input count: the input is then
taken as uncached, and the result carries a ``warning``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spanlink.plugins.cost.prices import Price

__all__ = ["TokenUsage", "compute_cost"]

# Costs are rounded to a femto-dollar so float noise (0.0025000000000000005) stays out.
_DIGITS = 15


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one model call, in the GenAI conventions' meaning."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


def compute_cost(usage: TokenUsage, price: Price) -> dict[str, Any]:
    """USD cost of ``usage`` at ``price``: the cost keys of the plugin's span result."""
    warnings: list[str] = []
    price = price.for_input(usage.input_tokens)
    cached = usage.cache_read_tokens + usage.cache_creation_tokens
    uncached = usage.input_tokens - cached
    if uncached < 0:
        uncached = usage.input_tokens
        warnings.append("cache tokens exceed input tokens: input taken as excluding cached tokens")
    output_price = price.output
    reasoning_price = price.reasoning if price.reasoning is not None else output_price
    reasoning = usage.reasoning_tokens
    plain_output = usage.output_tokens - reasoning
    if plain_output < 0:
        plain_output = usage.output_tokens
        warnings.append(
            "reasoning tokens exceed output tokens: reasoning taken as billed on top of output"
        )
    input_cost = uncached * price.input
    cache_read_cost = usage.cache_read_tokens * (
        price.cache_read if price.cache_read is not None else price.input
    )
    cache_creation_cost = usage.cache_creation_tokens * (
        price.cache_creation if price.cache_creation is not None else price.input
    )
    reasoning_cost = reasoning * reasoning_price
    output_cost = plain_output * output_price + reasoning_cost
    total = input_cost + cache_read_cost + cache_creation_cost + output_cost
    result: dict[str, Any] = {
        "input_cost": round(input_cost, _DIGITS),
        "output_cost": round(output_cost, _DIGITS),
        "cache_read_cost": round(cache_read_cost, _DIGITS),
        "cache_creation_cost": round(cache_creation_cost, _DIGITS),
        "reasoning_cost": round(reasoning_cost, _DIGITS),
        "total_cost": round(total, _DIGITS),
    }
    if price.above_tokens is not None:
        result["price_tier"] = f"above_{price.above_tokens}_input_tokens"
    if warnings:
        result["warning"] = "; ".join(warnings)
    return result
