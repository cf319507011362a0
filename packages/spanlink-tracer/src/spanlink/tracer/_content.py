"""Content capture: function inputs and outputs as bounded JSON strings.

Everything here is called from inside the user's code path, so nothing here may raise:
values that JSON cannot express get a safe, bounded ``repr``; recursive structures, huge
values and objects whose ``__repr__`` raises are recorded as markers instead of failing.
The work done per value is bounded by the size limit, not by the size of the value.

Capture is on unless ``SPANLINK_CAPTURE_CONTENT`` is ``false``/``0``/``no``/``off``
(read at call time) or :func:`configure_content` says otherwise. A mask (per decorator
and/or global) transforms a value before anything is recorded; a mask that raises makes
the value be recorded as a marker, never unmasked.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final

from spanlink.tracer import _env

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "DEFAULT_MAX_BYTES",
    "TRUNCATION_MARKER",
    "ContentConfig",
    "Mask",
    "apply_masks",
    "bound_text",
    "capture",
    "capture_arguments",
    "capture_enabled",
    "configure_content",
    "content_config",
    "object_key",
    "safe_repr",
    "serialize",
]

#: Environment variable that turns content capture off when ``false``/``0``/``no``/``off``.
CAPTURE_CONTENT_ENV: Final = _env.SPANLINK_CAPTURE_CONTENT
#: Default limit of one captured value, in UTF-8 bytes of its JSON text.
DEFAULT_MAX_BYTES: Final = 8192
#: Appended to a JSON text cut at the size limit (the text is then no longer valid JSON).
TRUNCATION_MARKER: Final = "...[truncated]"
#: Ends a string value shortened to fit the budget (the JSON text stays valid).
_ELLIPSIS: Final = "…"
_MIN_BYTES: Final = 64
_MAX_DEPTH: Final = 16
_MIN_SHARE: Final = 64
_REPR_LIMIT: Final = 512
_FALSE_WORDS: Final = frozenset({"false", "0", "no", "off"})

#: A mask receives the value about to be recorded and returns what to record instead.
Mask = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class ContentConfig:
    """The process-wide content capture settings (see :func:`configure_content`)."""

    enabled: bool | None = None
    """True/False forces capture on/off; None follows ``SPANLINK_CAPTURE_CONTENT``."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Limit of one captured value in UTF-8 bytes of JSON, truncation marker included."""
    mask: Mask | None = None
    """Global mask, applied after a decorator's own ``mask=``."""


_config = ContentConfig()


def configure_content(
    enabled: bool | None = None,
    max_bytes: int | None = None,
    mask: Mask | None = None,
) -> ContentConfig:
    """Set the process-wide content capture settings; returns the previous ones.

    Each call replaces the whole configuration: ``enabled=None`` follows the
    ``SPANLINK_CAPTURE_CONTENT`` variable (read at call time), ``max_bytes=None`` means
    8 KiB, ``mask=None`` means no global mask. ``configure_content()`` restores the defaults.
    """
    global _config
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True, False or None, not {type(enabled).__name__}")
    if max_bytes is None:
        max_bytes = DEFAULT_MAX_BYTES
    elif isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int, not {type(max_bytes).__name__}")
    elif max_bytes < _MIN_BYTES:
        raise ValueError(f"max_bytes must be at least {_MIN_BYTES}, got {max_bytes}")
    if mask is not None and not callable(mask):
        raise TypeError(f"mask must be a callable taking one value, not {type(mask).__name__}")
    previous = _config
    _config = ContentConfig(enabled=enabled, max_bytes=max_bytes, mask=mask)
    return previous


def content_config() -> ContentConfig:
    """The content capture settings in force."""
    return _config


_read_capture_env = _env.fast_reader(CAPTURE_CONTENT_ENV)


def capture_enabled() -> bool:
    """Whether content is captured right now (configuration, else the environment)."""
    enabled = _config.enabled
    if enabled is not None:
        return enabled
    value = _read_capture_env()
    return value is None or value.lower() not in _FALSE_WORDS


def apply_masks(value: Any, mask: Mask | None) -> Any:
    """Run the decorator's ``mask`` then the global mask over ``value``; never raises.

    A mask that raises yields a marker string naming the error, so that the unmasked
    value is never recorded.
    """
    global_mask = _config.mask
    if mask is None and global_mask is None:
        return value
    for fn in (mask, global_mask):
        if fn is None:
            continue
        try:
            value = fn(value)
        except Exception as exc:
            return f"<mask failed: {type(exc).__name__}>"
    return value


def capture(value: Any, mask: Mask | None = None, max_bytes: int | None = None) -> str:
    """``value`` masked (decorator mask, then global mask) and serialized; never raises."""
    if mask is not None or _config.mask is not None:
        value = apply_masks(value, mask)
    return serialize(value, max_bytes)


def safe_repr(value: Any, limit: int = _REPR_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters; a marker if ``__repr__`` raises."""
    try:
        text = repr(value)
    except Exception as exc:
        try:
            name = type(value).__qualname__
        except Exception:
            name = "object"
        return f"<{name} object (repr failed: {type(exc).__name__})>"
    if not isinstance(text, str):
        return "<repr returned a non-string>"
    if len(text) > limit:
        return text[: max(limit - 1, 0)] + _ELLIPSIS
    return text


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _plain_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` for the values :func:`_is_small_plain` accepts, made once.

    ``JSONEncoder.encode`` builds a C encoder (and a dict of markers for cycles) on every
    call; a flat dict or list of scalars has no cycle, so one C encoder without markers,
    made here, writes exactly the same text for a fraction of the work.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the encoder's own path
        return _ENCODER.encode
    iterencode = make(
        None,  # no cycle markers: a flat container cannot contain itself
        _ENCODER.default,
        json.encoder.encode_basestring,  # what ensure_ascii=False uses
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
    encode_str = json.encoder.encode_basestring
    join = "".join

    def encode(value: Any) -> str:
        if type(value) is str:
            return encode_str(value)
        return join(iterencode(value, 0))

    return encode


_encode_plain: Final = _plain_encoder()


class _Pruner:
    """Turns any value into a JSON-safe structure of about ``budget`` bytes of JSON.

    Strings are cut, containers stop early, cycles and deep nesting become markers; so
    the work is bounded by the budget whatever the size of the input (except for a
    pydantic model's own ``model_dump``, which runs whole).
    """

    __slots__ = ("active", "budget")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.active: set[int] = set()

    def prune(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self._string(value)
        if kind is int or kind is bool or value is None:
            self.budget -= 6
            if kind is int and value.bit_length() > 64:
                return self._string(safe_repr(value, 64))
            return value
        if kind is float:
            self.budget -= 10
            return value if math.isfinite(value) else str(value)
        if self.budget <= 0:
            return _ELLIPSIS
        if depth >= _MAX_DEPTH:
            return self._string(safe_repr(value, 64))
        if kind is dict or kind is list or kind is tuple:
            return self._container(value, depth)
        if isinstance(value, str):
            return self._string(str.__str__(value))
        if isinstance(value, enum.Enum):
            return self.prune(value.value, depth + 1)
        if isinstance(value, (int, float)):
            return self.prune(int(value) if isinstance(value, int) else float(value), depth)
        if isinstance(value, (Mapping, list, tuple, set, frozenset)) or _is_dataclass(value):
            return self._container(value, depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._string(f"<{type(value).__name__} of {len(value)} bytes>")
        if isinstance(value, (datetime.date, datetime.time)):
            return self._string(value.isoformat())
        if isinstance(value, (uuid.UUID, Decimal, PurePath)):
            return self._string(str(value))
        dump = getattr(type(value), "model_dump", None)  # pydantic v2 models
        if callable(dump):
            try:
                dumped = dump(value, mode="json")
            except Exception:
                dumped = None
            if isinstance(dumped, Mapping):
                return self._container(dumped, depth)
        return self._string(safe_repr(value, max(min(self.budget, _REPR_LIMIT), 16)))

    def _string(self, text: str) -> str:
        """``text`` cut to the remaining budget (counted in UTF-8 bytes)."""
        budget = max(self.budget, 0)
        cut = len(text) > budget  # more characters than bytes left: surely too long
        if cut:
            text = text[:budget]
        if text.isascii():
            size = len(text)
        else:
            data = text.encode("utf-8", "surrogatepass")
            size = len(data)
            if size > budget:
                text = data[:budget].decode("utf-8", "ignore")
                size, cut = budget, True
        self.budget = budget - size - (5 if cut else 2)  # quotes, and the ellipsis if cut
        return text + _ELLIPSIS if cut else text

    def _container(self, value: Any, depth: int) -> Any:
        key = id(value)
        if key in self.active:
            return self._string(f"<recursive {type(value).__name__}>")
        self.active.add(key)
        try:
            if type(value) is dict or isinstance(value, Mapping):
                return self._mapping(value.items(), len(value), depth)
            if _is_dataclass(value):
                fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
                return self._mapping(fields, len(fields), depth)
            out: list[Any] = []
            total = len(value)
            for item in value:
                if self.budget <= 0:
                    out.append(f"{_ELLIPSIS} {total - len(out)} more")
                    break
                self.budget -= 1
                out.append(self._share(item, total - len(out), depth))
            return out
        finally:
            self.active.discard(key)

    def _mapping(self, items: Any, total: int, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if self.budget <= 0:
                out[_ELLIPSIS] = f"{total - len(out)} more"
                break
            name = k if type(k) is str else safe_repr(k, 64)
            self.budget -= len(name) + 4
            out[name] = self._share(v, total - len(out), depth)
        return out

    def _share(self, value: Any, remaining: int, depth: int) -> Any:
        """Prune one element within a fair share of the budget, so that a huge first
        element does not hide the ones after it; what it leaves unused goes on."""
        budget = self.budget
        share = max(budget // max(remaining, 1), _MIN_SHARE)
        if share >= budget:
            return self.prune(value, depth + 1)
        self.budget = share
        try:
            return self.prune(value, depth + 1)
        finally:
            self.budget = budget - (share - self.budget)


def _is_dataclass(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def serialize(value: Any, max_bytes: int | None = None) -> str:
    """``value`` as a JSON text of at most ``max_bytes`` UTF-8 bytes; never raises.

    Values JSON cannot express are written as their bounded ``repr``; a text still too
    long is cut and ends with :data:`TRUNCATION_MARKER`.
    """
    limit = _config.max_bytes if max_bytes is None else max(max_bytes, _MIN_BYTES)
    try:
        if _is_small_plain(value, limit):  # the common case, without the pruner's walk
            text = _encode_plain(value)
            if text.isascii() and len(text) <= limit:
                return text
        # Keep some room for what the pruner does not count (punctuation, escapes), so that
        # the text usually stays valid JSON; _fit() enforces the hard limit anyway.
        text = _ENCODER.encode(_Pruner(limit - 16 - limit // 64).prune(value, 0))
    except Exception as exc:
        # A mapping mutated while we read it, an __iter__ that raises...
        text = _ENCODER.encode(f"<unserialisable {_type_name(value)}: {type(exc).__name__}>")
    return _fit(text, limit)


_SMALL_ITEMS: Final = 16
_MAX_KEY: Final = 64
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63
_encode_str: Final = json.encoder.encode_basestring
_int_repr: Final = int.__repr__
_float_repr: Final = float.__repr__
_isfinite: Final = math.isfinite


def object_key(name: str) -> str | None:
    """``name`` as the JSON key text ``"name":`` that :func:`capture_arguments` takes, or
    None when a key so long makes the argument object not a plain one."""
    return _encode_str(name) + ":" if len(name) <= _MAX_KEY else None


def capture_arguments(keys: tuple[str, ...], args: tuple[Any, ...]) -> str | None:
    """``capture(dict(zip(names, args)))`` written directly, or None when unsure.

    ``keys`` are the :func:`object_key` texts of the parameter names, one per positional
    argument. The exact path for the common call with a few scalars: without a global
    mask, for the values :func:`_is_small_plain` accepts and a text that needs no cutting,
    this is the text :func:`capture` writes for that dict, without building the dict and
    walking it twice. None means: build the dict and capture it.
    """
    if _config.mask is not None or len(args) > _SMALL_ITEMS:
        return None
    limit = _config.max_bytes
    room = limit // (2 * _SMALL_ITEMS)
    parts = []
    for key, item in zip(keys, args, strict=False):
        value = _scalar_json(item, room)
        if value is None:
            return None
        parts.append(key + value)
    text = "{" + ",".join(parts) + "}"
    return text if text.isascii() and len(text) <= limit else None


def _scalar_json(item: Any, room: int) -> str | None:
    """The JSON text of a scalar as the encoder writes it, or None (not a plain scalar)."""
    kind = type(item)
    if kind is str:
        return _encode_str(item) if len(item) <= room else None
    if kind is int:
        return _int_repr(item) if _INT_MIN <= item < _INT_MAX else None
    if kind is bool:
        return "true" if item else "false"
    if item is None:
        return "null"
    if kind is float:
        return _float_repr(item) if _isfinite(item) else None
    return None


def _is_small_plain(value: Any, limit: int) -> bool:
    """True for a scalar, or a flat dict/list of scalars, that JSON writes as is."""
    kind = type(value)
    if kind is dict or kind is list:
        if len(value) > _SMALL_ITEMS:
            return False
        if kind is dict:
            for key in value:
                if type(key) is not str or len(key) > _MAX_KEY:
                    return False
            items = value.values()
        else:
            items = value
        room = limit // (2 * _SMALL_ITEMS)
        for item in items:
            t = type(item)
            if t is str:
                if len(item) > room:
                    return False
            elif t is int:
                if not -(2**63) <= item < 2**63:
                    return False
            elif t is float:
                if not math.isfinite(item):
                    return False
            elif not (t is bool or item is None):
                return False
        return True
    if kind is str:
        return len(value) * 4 <= limit - 8
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    if kind is float:
        return math.isfinite(value)
    return kind is bool or value is None


def bound_text(text: str, max_bytes: int | None = None) -> str:
    """Plain ``text`` cut to ``max_bytes`` UTF-8 bytes (marker included); never raises."""
    limit = _config.max_bytes if max_bytes is None else max(max_bytes, _MIN_BYTES)
    try:
        return _fit(text, limit)
    except Exception:
        return "<text could not be recorded>"


def _fit(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` UTF-8 bytes, marker included; lone surrogates replaced."""
    if text.isascii():  # O(1) in CPython: one byte per character
        if len(text) <= limit:
            return text
        return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates would break OTLP encoding downstream
        data = text.encode("utf-8", "replace")
        text = data.decode("utf-8")
    if len(data) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARKER)
    return data[:keep].decode("utf-8", "ignore") + TRUNCATION_MARKER


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"
