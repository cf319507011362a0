"""The ``cost`` plugin's hook implementations (entry point ``cost`` in group ``spanlink``).

Span result (``spanlink_enrich_span``), for spans that call a model:

- ``status``: ``"ok"``; ``"unknown_model"`` (no price known: costs are absent, never 0);
  ``"no_usage"`` (a model call without token counts, e.g. streaming without usage);
  ``"invalid_usage"`` (a token count that is not a non-negative integer).
- ``model``, ``provider``, ``price_source`` (``project`` | ``SPANLINK_PRICES`` | ``litellm``),
  ``price_key`` (the map key or pattern that matched), ``currency`` (``"USD"``).
- ``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ``cache_creation_tokens``,
  ``reasoning_tokens``: the counts used.
- ``input_cost``, ``output_cost``, ``cache_read_cost``, ``cache_creation_cost``,
  ``reasoning_cost`` (share of ``output_cost``), ``total_cost``: USD floats.

Trace result (``spanlink_enrich_trace``): ``total_cost``, ``cost_by_model``,
``tokens_by_model``, ``llm_spans``, ``priced_spans``, ``unknown_model_spans``,
``unknown_models``, ``unpriced_llm_spans`` (no usage or invalid usage), ``unpriced_models``
(the models of those spans) and ``complete`` (False when some model call could not be
priced: ``total_cost`` is then only what was priced, and the trace's cost is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanlink.plugins.cost.calculate import TokenUsage, compute_cost
from spanlink.plugins.cost.price_map import candidate_names, default_price_map
from spanlink.plugins.cost.prices import (
    PRICES_ENV,
    Price,
    PriceTable,
    parse_price_table,
    price_file_table,
)
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import hookimpl
from spanlink.tracer.semconv import TOTAL_TOKENS
from spanlink.tracer.semconv import attributes as a

__all__ = [
    "span_cost",
    "spanlink_enrich_span",
    "spanlink_enrich_trace",
    "trace_cost",
]

PLUGIN_NAME = "cost"
PROJECT_SOURCE = "project"

_USAGE_KEYS = (
    ("input_tokens", a.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", a.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_creation_tokens", a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_tokens", a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
)
_TOKEN_FIELDS = tuple(field for field, _ in _USAGE_KEYS)
_HAS_USAGE_KEY = frozenset(key for _, key in _USAGE_KEYS)
# Either of these makes a call priceable; cache and reasoning counts alone do not.
_USAGE_FIELDS = frozenset({"input_tokens", "output_tokens"})

# The last per-project table compiled, with the mapping it came from: hosts pass the same
# table for every span of a trace, so compile it once rather than per span.
_project_cache: tuple[Mapping[str, Any], dict[str, Any], PriceTable] | None = None


def _project_table(prices: Any) -> PriceTable | None:
    global _project_cache
    if not prices:
        return None
    cached = _project_cache
    if cached is not None and cached[0] is prices and cached[1] == prices:
        return cached[2]
    table = parse_price_table(prices, source=PROJECT_SOURCE)
    _project_cache = (prices, dict(prices), table)
    return table


def _token_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# Resolved prices by (model names, provider, project table, file table): the same few
# models recur in every trace. Tables compare by identity, so a new table misses.
_resolved: dict[tuple[Any, ...], Price | None] = {}


def _find_price(
    models: tuple[str, ...], provider: str | None, context: Mapping[str, Any]
) -> Price | None:
    project = _project_table(context.get("prices"))
    file_table = price_file_table()
    key = (models, provider, project, file_table)
    try:
        return _resolved[key]
    except KeyError:
        pass
    names = [candidate_names(model, provider) for model in models]
    found: Price | None = None
    for table in (project, file_table, default_price_map()):
        if table is None:
            continue
        for candidates in names:
            found = table.lookup(candidates)
            if found is not None:
                break
        if found is not None:
            break
    if len(_resolved) >= 4096:  # bounded: model names come from input
        _resolved.clear()
    _resolved[key] = found
    return found


def span_cost(
    attributes: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The cost result for a span's (normalized) attributes, or None if it calls no model.

    Raises ``PriceError`` when ``context["prices"]`` or the ``SPANLINK_PRICES`` file is
    malformed, rather than pricing with a table the user did not mean.
    """
    response_model = attributes.get(a.GEN_AI_RESPONSE_MODEL)
    request_model = attributes.get(a.GEN_AI_REQUEST_MODEL)
    operation = attributes.get(a.GEN_AI_OPERATION_NAME)  # any OTLP value: never hash it
    if (
        response_model is None
        and request_model is None
        and not (isinstance(operation, str) and operation in a.MODEL_OPERATIONS)
        and not _HAS_USAGE_KEY.intersection(attributes)
    ):
        return None  # the common case: a span that calls no model
    models: tuple[str, ...] = ()
    for model in (response_model, request_model):
        if isinstance(model, str):
            model = model.strip()
            if model and model not in models:
                models += (model,)
    provider = attributes.get(a.GEN_AI_PROVIDER_NAME)
    provider = provider if isinstance(provider, str) and provider else None
    result: dict[str, Any] = {"model": models[0] if models else None}
    if provider is not None:
        result["provider"] = provider

    has_usage = False
    for field, key in _USAGE_KEYS:
        raw = attributes.get(key)
        if raw is None:
            result[field] = 0
            continue
        count = raw if type(raw) is int and raw >= 0 else _token_count(raw)
        if count is None:
            result["status"] = "invalid_usage"
            result["message"] = (
                f"{key}={raw!r} is not a non-negative integer; the span cannot be priced"
            )
            return result
        result[field] = count
        has_usage = has_usage or field in _USAGE_FIELDS
    if not has_usage:
        result["status"] = "no_usage"
        total = attributes.get(TOTAL_TOKENS)
        result["message"] = (
            f"only a total of {total} tokens is recorded, without the input/output split; "
            "cannot be priced"
            if total is not None
            else "model call without token usage (e.g. streaming without usage); cannot be priced"
        )
        return result
    if not models:
        result["status"] = "unknown_model"
        result["message"] = "token usage without a model name; cannot be priced"
        return result
    price = _find_price(models, provider, context if context is not None else {})
    if price is None:
        result["status"] = "unknown_model"
        result["message"] = (
            f"no price known for model {models[0]!r}; add it to the project's price table "
            f"or to a {PRICES_ENV} file"
        )
        return result
    usage = TokenUsage(
        result["input_tokens"],
        result["output_tokens"],
        result["cache_read_tokens"],
        result["cache_creation_tokens"],
        result["reasoning_tokens"],
    )
    result["status"] = "ok"
    result["price_source"] = price.source
    result["price_key"] = price.key
    result["currency"] = "USD"
    result.update(compute_cost(usage, price))
    return result


def trace_cost(span_results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """Roll the cost span results of one trace up; None when no span called a model."""
    total = 0.0
    cost_by_model: dict[str, float] = {}
    tokens_by_model: dict[str, dict[str, int]] = {}
    llm_spans = priced = unknown = unpriced = 0
    unknown_models: set[str] = set()
    unpriced_models: set[str] = set()
    for by_plugin in span_results.values():
        cost = by_plugin.get(PLUGIN_NAME)
        if cost is None or not isinstance(cost, (dict, Mapping)):
            continue
        llm_spans += 1
        status = cost.get("status")
        model = cost.get("model") or "(no model)"
        if status in ("ok", "unknown_model") and "input_tokens" in cost:
            tokens = tokens_by_model.setdefault(model, dict.fromkeys(_TOKEN_FIELDS, 0))
            for field in _TOKEN_FIELDS:
                tokens[field] += int(cost.get(field) or 0)
        if status == "ok":
            priced += 1
            span_total = float(cost.get("total_cost") or 0.0)
            total += span_total
            cost_by_model[model] = cost_by_model.get(model, 0.0) + span_total
        elif status == "unknown_model":
            unknown += 1
            unknown_models.add(model)
        else:
            unpriced += 1
            unpriced_models.add(model)
    if llm_spans == 0:
        return None
    return {
        "currency": "USD",
        "total_cost": round(total, 15),
        "cost_by_model": {model: round(cost, 15) for model, cost in sorted(cost_by_model.items())},
        "tokens_by_model": dict(sorted(tokens_by_model.items())),
        "llm_spans": llm_spans,
        "priced_spans": priced,
        "unknown_model_spans": unknown,
        "unknown_models": sorted(unknown_models),
        "unpriced_llm_spans": unpriced,
        "unpriced_models": sorted(unpriced_models),
        "complete": unknown == 0 and unpriced == 0,
    }


@hookimpl
def spanlink_enrich_span(span: SpanRecord, context: Mapping[str, Any]) -> dict[str, Any] | None:
    """Price one model call: see the module docstring for the result's keys."""
    return span_cost(span.attributes, context)


@hookimpl
def spanlink_enrich_trace(
    trace: Trace, span_results: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Total cost, cost and tokens by model, and counts of spans that could not be priced."""
    return trace_cost(span_results)
