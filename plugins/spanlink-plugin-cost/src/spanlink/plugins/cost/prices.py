"""Per-token prices and custom price tables (``SPANLINK_PRICES`` files, per-project tables).

A price table maps a model name pattern (``fnmatch`` glob, matched case-insensitively) to
per-token USD prices::

    # prices.toml
    ["my-finetune-*"]
    input = 3e-06
    output = 1.2e-05
    cache_read = 1.5e-06        # optional: defaults to the input price
    cache_creation = 3.75e-06   # optional: defaults to the input price
    reasoning = 1.2e-05         # optional: defaults to the output price

The same shape as JSON, or as the ``prices`` mapping a host passes in the hook context.
LiteLLM's own key names (``input_cost_per_token``, ``output_cost_per_token``,
``cache_read_input_token_cost``, ``cache_creation_input_token_cost``,
``output_cost_per_reasoning_token``) are accepted as aliases.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import translate
from pathlib import Path
from typing import Any

from spanlink.tracer.prices import PriceTableError, check_prices

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = [
    "PRICES_ENV",
    "Price",
    "PriceError",
    "PriceFileError",
    "PriceRule",
    "PriceTable",
    "clear_price_file_cache",
    "load_price_file",
    "parse_price_table",
    "price_file_table",
]

#: Environment variable naming a TOML or JSON price file that overrides LiteLLM's map.
PRICES_ENV = "SPANLINK_PRICES"

#: The error of a malformed table (the tracer's, so every host raises the same one).
PriceError = PriceTableError


class PriceFileError(PriceError):
    """The ``SPANLINK_PRICES`` file is missing, unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token. ``None`` cache/reasoning prices fall back to the input/output price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_creation: float | None = None
    reasoning: float | None = None
    #: Where the price came from: ``"litellm"``, ``"SPANLINK_PRICES"`` or ``"project"``.
    source: str = "litellm"
    #: The map key or pattern that matched.
    key: str = ""
    #: Long-context tiers, ascending: ``(threshold, price)`` applies above ``threshold`` input
    #: tokens (LiteLLM's ``*_above_200k_tokens`` prices).
    tiers: tuple[tuple[int, Price], ...] = ()
    #: For a tier's price: the input-token count it applies above.
    above_tokens: int | None = None

    def for_input(self, input_tokens: int) -> Price:
        """The price that applies to a call with ``input_tokens`` (its highest tier passed)."""
        chosen = self
        for threshold, tier in self.tiers:
            if input_tokens > threshold:
                chosen = tier
        return chosen


@dataclass(frozen=True, slots=True)
class PriceRule:
    """One pattern of a custom price table."""

    pattern: str
    price: Price
    regex: re.Pattern[str]


class PriceTable:
    """An ordered list of pattern rules; an exact name beats a glob, then first match wins."""

    __slots__ = ("_exact", "rules")

    def __init__(self, rules: tuple[PriceRule, ...]) -> None:
        self.rules = rules
        self._exact = {rule.pattern.lower(): rule.price for rule in reversed(rules)}

    def __len__(self) -> int:
        return len(self.rules)

    def lookup(self, names: tuple[str, ...]) -> Price | None:
        """The price for the first of ``names`` (already lower-cased) that any rule matches."""
        for name in names:
            price = self._exact.get(name)
            if price is not None:
                return price
        for rule in self.rules:
            for name in names:
                if rule.regex.match(name):
                    return rule.price
        return None


def parse_price_table(table: Mapping[str, Any], *, source: str) -> PriceTable:
    """Validate a pattern → prices mapping and compile it; raise ``PriceError`` when malformed.

    ``source`` names where the table came from in error messages and in ``Price.source``.
    """
    if not isinstance(table, Mapping):
        raise PriceError(
            f"{source}: expected a mapping of model pattern to prices, got {type(table).__name__}"
        )
    rules: list[PriceRule] = []
    for pattern, entry in table.items():
        if not isinstance(pattern, str) or not pattern.strip():
            raise PriceError(f"{source}: model pattern must be a non-empty string, got {pattern!r}")
        if not isinstance(entry, Mapping):
            raise PriceError(
                f"{source}: prices for {pattern!r} must be a table of per-token prices, "
                f"got {entry!r}"
            )
        values = check_prices(pattern, entry, f"{source}: ")
        price = Price(
            input=values["input"],
            output=values["output"],
            cache_read=values.get("cache_read"),
            cache_creation=values.get("cache_creation"),
            reasoning=values.get("reasoning"),
            source=source,
            key=pattern,
        )
        regex = re.compile(translate(pattern.lower()))
        rules.append(PriceRule(pattern, price, regex))
    return PriceTable(tuple(rules))


def load_price_file(path: str | os.PathLike[str]) -> PriceTable:
    """Read a TOML (``.toml``) or JSON (anything else) price file; ``PriceFileError`` if bad."""
    file = Path(path)
    label = f"{PRICES_ENV}={file}"
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise PriceFileError(
            f"{label}: cannot read the price file ({error.strerror or error}); "
            f"fix the path or unset {PRICES_ENV}"
        ) from error
    try:
        if file.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:  # TOMLDecodeError is a ValueError
        kind = "TOML" if file.suffix.lower() == ".toml" else "JSON"
        raise PriceFileError(f"{label}: not valid {kind}: {error}") from error
    try:
        return parse_price_table(data, source=PRICES_ENV)
    except PriceFileError:
        raise
    except PriceError as error:
        raise PriceFileError(f"{label}: {error}") from error


_file_lock = threading.Lock()
_file_cache: tuple[str, PriceTable | PriceFileError] | None = None


def price_file_table(environ: Mapping[str, str] | None = None) -> PriceTable | None:
    """The table from ``SPANLINK_PRICES`` (read once per path per process), or None if unset.

    Raises ``PriceFileError`` (every time, without re-reading) when the file is bad: a
    wrong price silently replaced by LiteLLM's would be worse than no price.
    """
    global _file_cache
    path = (environ if environ is not None else os.environ).get(PRICES_ENV, "").strip()
    if not path:
        return None
    cached = _file_cache
    if cached is None or cached[0] != path:
        with _file_lock:
            cached = _file_cache
            if cached is None or cached[0] != path:
                try:
                    loaded: PriceTable | PriceFileError = load_price_file(path)
                except PriceFileError as error:
                    loaded = error
                cached = (path, loaded)
                _file_cache = cached
    result = cached[1]
    if isinstance(result, PriceFileError):
        raise PriceFileError(str(result))
    return result


def clear_price_file_cache() -> None:
    """Forget the loaded ``SPANLINK_PRICES`` file so the next lookup reads it again."""
    global _file_cache
    with _file_lock:
        _file_cache = None
