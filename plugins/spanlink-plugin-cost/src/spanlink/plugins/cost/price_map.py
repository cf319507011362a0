"""LiteLLM's model price map, loaded lazily once per process, and model-name resolution.

``import litellm`` takes seconds (measured ~5 s on a 2-core machine), while the JSON price
map it ships parses in ~50 ms. So the map file is located through the import system
*without* importing LiteLLM; only if a LiteLLM release stops shipping the file do we fall
back to ``litellm.model_cost``. ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set (unless the
user set it) before either, so LiteLLM never fetches prices over the network.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spanlink.plugins.cost.prices import Price

__all__ = [
    "LITELLM_LOCAL_MAP_ENV",
    "PROVIDER_PREFIXES",
    "ModelPriceMap",
    "PriceMapError",
    "candidate_names",
    "default_price_map",
]

LITELLM_LOCAL_MAP_ENV = "LITELLM_LOCAL_MODEL_COST_MAP"
_MAP_FILE = "model_prices_and_context_window_backup.json"

#: ``gen_ai.provider.name`` (and common OpenInference ``llm.provider``) values → LiteLLM prefix.
PROVIDER_PREFIXES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "bedrock",
    "aws": "bedrock",
    "azure.ai.openai": "azure",
    "azure": "azure",
    "azure.ai.inference": "azure_ai",
    "gcp.gemini": "gemini",
    "gcp.gen_ai": "gemini",
    "google": "gemini",
    "gcp.vertex_ai": "vertex_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "ibm.watsonx.ai": "watsonx",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "perplexity": "perplexity",
    "x_ai": "xai",
    "xai": "xai",
}

# Dated snapshot suffixes: gpt-4o-2024-08-06, claude-3-5-haiku-20241022, model@20240620.
_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8})$")


class PriceMapError(RuntimeError):
    """LiteLLM's price map could not be loaded (LiteLLM missing or its file unreadable)."""


@functools.lru_cache(maxsize=4096)
def candidate_names(model: str, provider: str | None) -> tuple[str, ...]:
    """Lower-cased names to try for ``model``, most specific first.

    Provider-prefixed form (``azure/gpt-4o``) first when the provider is known, then the
    name as given, then without a provider prefix, then each without a date suffix.
    """
    base = model.strip().lower()
    names: list[str] = []
    prefix = PROVIDER_PREFIXES.get(provider.lower(), provider.lower()) if provider else None
    if prefix and "/" not in base:
        names.append(f"{prefix}/{base}")
    names.append(base)
    if "/" in base:
        names.append(base.split("/", 1)[1])
        names.append(base.rsplit("/", 1)[1])
    for name in list(names):
        stripped = _DATE_SUFFIX.sub("", name)
        if stripped != name:
            names.append(stripped)
    return tuple(dict.fromkeys(names))


_TIER_KEY = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost)_above_(\d+)(k?)_tokens$"
)


def _tiers(entry: Mapping[str, Any], base: Price) -> tuple[tuple[int, Price], ...]:
    """Long-context prices, ascending; each tier starts from the one below (as LiteLLM does)."""
    by_threshold: dict[int, dict[str, float]] = {}
    for name, value in entry.items():
        match = _TIER_KEY.match(name)
        if match is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        threshold = int(match[2]) * (1000 if match[3] else 1)
        by_threshold.setdefault(threshold, {})[match[1]] = float(value)
    tiers: list[tuple[int, Price]] = []
    current = base
    for threshold in sorted(by_threshold):
        values = by_threshold[threshold]
        current = dataclasses.replace(
            current,
            input=values.get("input_cost_per_token", current.input),
            output=values.get("output_cost_per_token", current.output),
            cache_read=values.get("cache_read_input_token_cost", current.cache_read),
            cache_creation=values.get("cache_creation_input_token_cost", current.cache_creation),
            above_tokens=threshold,
            tiers=(),
        )
        tiers.append((threshold, current))
    return tuple(tiers)


def _price_of(key: str, entry: Mapping[str, Any]) -> Price | None:
    input_price = entry.get("input_cost_per_token")
    output_price = entry.get("output_cost_per_token")
    if not isinstance(input_price, (int, float)) and not isinstance(output_price, (int, float)):
        return None  # priced per image, per second... not per token: not ours to guess

    def number(name: str) -> float | None:
        value = entry.get(name)
        return float(value) if isinstance(value, (int, float)) else None

    base = Price(
        input=number("input_cost_per_token") or 0.0,
        output=number("output_cost_per_token") or 0.0,
        cache_read=number("cache_read_input_token_cost"),
        cache_creation=number("cache_creation_input_token_cost"),
        reasoning=number("output_cost_per_reasoning_token"),
        source="litellm",
        key=key,
    )
    tiers = _tiers(entry, base)
    return dataclasses.replace(base, tiers=tiers) if tiers else base


class ModelPriceMap:
    """Per-token prices by model name, from a LiteLLM-shaped map; lookups are memoised."""

    _CACHE_LIMIT = 8192

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._entries: dict[str, tuple[str, Mapping[str, Any]]] = {
            key.lower(): (key, entry)
            for key, entry in raw.items()
            if isinstance(entry, Mapping) and key != "sample_spec"
        }
        self._cache: dict[tuple[str, ...], Price | None] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, names: tuple[str, ...]) -> Price | None:
        """The price of the first of ``names`` (from ``candidate_names``) the map prices."""
        try:
            return self._cache[names]
        except KeyError:
            pass
        found: Price | None = None
        for name in names:
            hit = self._entries.get(name)
            if hit is not None:
                found = _price_of(*hit)
                if found is not None:
                    break
        if len(self._cache) >= self._CACHE_LIMIT:  # bounded: model names come from input
            self._cache.clear()
        self._cache[names] = found
        return found


def _load_litellm_map() -> Mapping[str, Any]:
    os.environ.setdefault(LITELLM_LOCAL_MAP_ENV, "True")
    try:
        spec = importlib.util.find_spec("litellm")  # finds the package without running it
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise PriceMapError(
            "LiteLLM is not installed, so no model prices are known; "
            "reinstall spanlink-plugin-cost (it depends on litellm)"
        )
    for location in spec.submodule_search_locations or ():
        path = Path(location) / _MAP_FILE
        if path.is_file():
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError) as error:
                raise PriceMapError(f"LiteLLM's price map {path} is unreadable: {error}") from error
            if isinstance(data, dict):
                return data
    litellm = importlib.import_module("litellm")  # the slow path: file moved in this release
    return dict(litellm.model_cost)


_lock = threading.Lock()
_default: ModelPriceMap | None = None


def default_price_map() -> ModelPriceMap:
    """LiteLLM's map, loaded on first use and shared by the whole process."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = ModelPriceMap(_load_litellm_map())
    return _default
