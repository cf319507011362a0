"""Properties of the cost arithmetic over many token counts and prices."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spanlink.plugins.cost import Price, TokenUsage, compute_cost

tokens = st.integers(min_value=0, max_value=2_000_000)
per_token = st.floats(min_value=0, max_value=1e-3, allow_nan=False, allow_infinity=False)


@st.composite
def usages(draw: st.DrawFn) -> TokenUsage:
    """Usage as the GenAI conventions define it: cache within input, reasoning within output."""
    input_tokens = draw(tokens)
    cache_read = draw(st.integers(0, input_tokens))
    cache_creation = draw(st.integers(0, input_tokens - cache_read))
    output_tokens = draw(tokens)
    reasoning = draw(st.integers(0, output_tokens))
    return TokenUsage(input_tokens, output_tokens, cache_read, cache_creation, reasoning)


@st.composite
def prices(draw: st.DrawFn) -> Price:
    return Price(
        input=draw(per_token),
        output=draw(per_token),
        cache_read=draw(st.none() | per_token),
        cache_creation=draw(st.none() | per_token),
        reasoning=draw(st.none() | per_token),
    )


@given(usages(), prices())
def test_total_is_the_sum_of_its_parts_and_never_negative(usage: TokenUsage, price: Price) -> None:
    cost = compute_cost(usage, price)
    parts = ("input_cost", "cache_read_cost", "cache_creation_cost", "output_cost")
    assert all(cost[name] >= 0 for name in (*parts, "reasoning_cost", "total_cost"))
    assert cost["total_cost"] == pytest.approx(sum(cost[name] for name in parts), abs=1e-12)
    assert cost["reasoning_cost"] <= cost["output_cost"] + 1e-12
    assert "warning" not in cost


@given(usages(), per_token, per_token)
def test_cache_at_the_input_price_costs_exactly_the_uncached_call(
    usage: TokenUsage, input_price: float, output_price: float
) -> None:
    # Each input token is charged exactly once, whatever the split between cache and not.
    price = Price(
        input=input_price, output=output_price, cache_read=input_price, cache_creation=input_price
    )
    cost = compute_cost(usage, price)
    expected = usage.input_tokens * input_price + usage.output_tokens * output_price
    assert cost["total_cost"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(usages(), prices(), st.integers(0, 1_000))
def test_reading_more_from_a_cheaper_cache_never_costs_more(
    usage: TokenUsage, price: Price, moved: int
) -> None:
    cheaper = Price(
        input=price.input, output=price.output, cache_read=min(price.cache_read or 0.0, price.input)
    )
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens
    moved = min(moved, uncached)
    more_cached = TokenUsage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens + moved,
        usage.cache_creation_tokens,
        usage.reasoning_tokens,
    )
    before = compute_cost(usage, cheaper)["total_cost"]
    after = compute_cost(more_cached, cheaper)["total_cost"]
    assert after <= before + 1e-12
