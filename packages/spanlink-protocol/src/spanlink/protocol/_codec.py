"""One codec for every message class: the dataclass fields and their types are the spec.

A field's Python type says how it travels (``str``, ``float``, ``int``, ``bool``, a JSON
object, any JSON value, a ``Literal`` of strings, a nested message part, a tuple of
either); ``field(metadata=wire(...))`` adds what a type cannot say (empty strings allowed,
positive numbers, always written...). Decoding validates every field and raises
:class:`ProtocolError` naming the message and the field; unknown fields are ignored.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from spanlink.protocol._errors import ProtocolError, shown
from spanlink.protocol._json import is_json_integer, json_type

__all__ = ["Wire", "from_wire", "known_keys", "to_wire", "wire"]

T = TypeVar("T")

_METADATA_KEY: Final = "spanlink.protocol"


@dataclasses.dataclass(frozen=True, slots=True)
class Wire:
    """How one field travels, beyond what its type says."""

    nonempty: bool = True
    """A string must not be empty."""
    positive: bool = False
    """A number must be greater than 0 (otherwise: not negative)."""
    always: bool = False
    """Written even when None (otherwise a None field is left out)."""
    omit_default: bool = False
    """Written only when it differs from the default."""
    present: bool = False
    """The key must be present, null allowed."""
    empty_is_default: bool = False
    """A valid but empty or zero value decodes as the default."""
    hex_digits: int | None = None
    """A string of exactly this many lowercase hex digits."""
    unique: str | None = None
    """Array items: this attribute must not repeat."""
    max_items: int | None = None
    """Arrays: at most this many items (checked before any item is decoded)."""
    unknown: str | None = None
    """Literal fields: an unknown value (from a newer peer) decodes as this one."""
    keys: tuple[str, ...] | None = None
    """An object of optional non-empty strings under these keys only (others are dropped)."""
    required_unless: tuple[str, str] | None = None
    """(other field, value): required unless that field has that value."""


def wire(**rules: Any) -> dict[str, Wire]:
    """The ``metadata`` of a ``dataclasses.field`` with these :class:`Wire` rules."""
    return {_METADATA_KEY: Wire(**rules)}


_DEFAULT_RULES: Final = Wire()


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str
    required: bool
    default: Callable[[], Any]
    rules: Wire
    item: Any = None  # nested class, item type of an array, or the allowed literal values


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    tag: str | None  # the message ``type`` written first, None for nested parts
    decode_order: tuple[_Field, ...]
    encode_order: tuple[_Field, ...]


_LAYOUTS: dict[type, _Layout] = {}


def _kind(hint: Any, rules: Wire) -> tuple[str, Any]:
    origin = get_origin(hint)
    if rules.keys is not None:
        return "keys", rules.keys
    if hint is str:
        return "string", None
    if hint is bool:
        return "boolean", None
    if hint is int:
        return "integer", None
    if hint is float:
        return "number", None
    if hint is Any:
        return "any", None
    if origin is Literal:
        return "literal", frozenset(get_args(hint))
    if origin in (dict, Mapping):
        return "object", None
    if origin is tuple:
        return "array", get_args(hint)[0]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return "nested", hint
    raise TypeError(f"no wire form for field type {hint!r}")


def _describe(spec: dataclasses.Field[Any], hint: Any) -> _Field:
    if get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        hint = args[0] if len(args) == 1 else Any
    rules = spec.metadata.get(_METADATA_KEY, _DEFAULT_RULES)
    kind, item = _kind(hint, rules)
    if spec.default is not dataclasses.MISSING:
        value = spec.default
        return _Field(spec.name, kind, False, lambda: value, rules, item)
    if spec.default_factory is not dataclasses.MISSING:
        return _Field(spec.name, kind, False, spec.default_factory, rules, item)
    return _Field(spec.name, kind, True, lambda: None, rules, item)


def _layout(cls: type) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        hints = get_type_hints(cls)
        found = [_describe(spec, hints[spec.name]) for spec in dataclasses.fields(cls)]
        by_name = {spec.name: spec for spec in found}
        # Messages write ``type`` and ``v`` first, then the fields (in ``_wire_order``).
        names = getattr(cls, "_wire_order", None) or [spec.name for spec in found]
        first = [by_name["v"]] if "v" in by_name else []
        rest = [by_name[name] for name in names if name != "v"]
        tag = cls.__dict__.get("type")
        layout = _Layout(tag if isinstance(tag, str) else None, tuple(found), (*first, *rest))
        _LAYOUTS[cls] = layout
    return layout


# --- decoding ---------------------------------------------------------------------------


def _fail(where: str, name: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{where}: field {name!r} {problem}", "invalid_message")


def _string(where: str, name: str, value: Any, rules: Wire) -> str:
    if not isinstance(value, str):
        raise _fail(where, name, f"must be a string, got {json_type(value)}")
    if rules.nonempty and not value:
        raise _fail(where, name, "must not be empty")
    if rules.hex_digits is not None and not (
        len(value) == rules.hex_digits and all(char in "0123456789abcdef" for char in value)
    ):
        raise _fail(where, name, f"must be {rules.hex_digits} lowercase hex digits")
    return value


def _number(where: str, name: str, value: Any, rules: Wire) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, name, f"must be a number, got {json_type(value)}")
    if not math.isfinite(value) or value < 0 or (rules.positive and value == 0):
        raise _fail(
            where, name, f"must be a {'positive' if rules.positive else 'non-negative'} number"
        )
    return value


def _integer(where: str, name: str, value: Any) -> int:
    if not is_json_integer(value):
        raise _fail(where, name, f"must be a non-negative integer, got {json_type(value)}")
    if value < 0:
        raise _fail(where, name, f"must be a non-negative integer, got {shown(value)}")
    return int(value)


def _typed(where: str, name: str, value: Any, python_type: type, what: str) -> Any:
    if not isinstance(value, python_type):
        raise _fail(where, name, f"must be {what}, got {json_type(value)}")
    return value


def _array(where: str, field: _Field, value: list[Any]) -> tuple[Any, ...]:
    limit = field.rules.max_items
    if limit is not None and len(value) > limit:
        raise _fail(where, field.name, f"has {len(value)} items, more than the limit of {limit}")
    if field.item is str:
        if not all(isinstance(item, str) for item in value):
            raise _fail(where, field.name, "must be an array of strings")
        return tuple(value)
    items = tuple(
        from_wire(field.item, item, f"{where}.{field.name}[{index}]")
        for index, item in enumerate(value)
    )
    if field.rules.unique is not None:
        # One pass with a Counter: linear in the number of items, whatever their names.
        counts = Counter(getattr(item, field.rules.unique) for item in items)
        repeated = [key for key, count in counts.items() if count > 1]
        if repeated:
            raise _fail(
                where, field.name, f"has duplicate {field.rules.unique}s: {shown(repeated)}"
            )
    return items


def _read(where: str, field: _Field, data: Mapping[str, Any], values: dict[str, Any]) -> Any:
    rules = field.rules
    if rules.present and field.name not in data:
        raise _fail(where, field.name, "is required (null is allowed)")
    value = data.get(field.name)
    if field.kind == "any":
        return field.default() if value is None else value
    if value is None:
        if rules.required_unless is not None:
            other, expected = rules.required_unless
            if values.get(other) != expected:
                raise _fail(where, field.name, f"is required when {other} is {values.get(other)!r}")
        if field.required:
            raise _fail(where, field.name, "is required")
        return field.default()
    kind = field.kind
    if kind == "string":
        value = _string(where, field.name, value, rules)
    elif kind == "literal":
        value = _string(where, field.name, value, rules)
        if value not in field.item:
            if rules.unknown is None:
                raise _fail(
                    where, field.name, f"must be one of {sorted(field.item)}, got {shown(value)}"
                )
            value = rules.unknown
    elif kind == "number":
        value = _number(where, field.name, value, rules)
    elif kind == "integer":
        value = _integer(where, field.name, value)
    elif kind == "boolean":
        value = _typed(where, field.name, value, bool, "true or false")
    elif kind == "object":
        value = _typed(where, field.name, value, dict, "a JSON object")
    elif kind == "array":
        value = _array(where, field, _typed(where, field.name, value, list, "a JSON array"))
    elif kind == "nested":
        given = _typed(where, field.name, value, dict, "a JSON object")
        value = from_wire(field.item, given, f"{where}.{field.name}")
    else:  # keys
        inner = f"{where}.{field.name}"
        given = _typed(where, field.name, value, dict, "a JSON object")
        value = {
            key: _string(inner, key, given[key], _DEFAULT_RULES)
            for key in field.item
            if given.get(key) is not None
        }
    if rules.empty_is_default and not value:
        return field.default()
    return value


def from_wire(cls: type[T], data: Any, where: str | None = None) -> T:
    """Validate the JSON object form ``data`` and build a ``cls`` from it.

    ``where`` names the object in error messages (default: the message type).
    Raises :class:`ProtocolError` for a missing or wrongly typed field.
    """
    layout = _layout(cls)
    where = where or layout.tag or cls.__name__
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{where} must be a JSON object, got {json_type(data)}")
    values: dict[str, Any] = {}
    for field in layout.decode_order:
        values[field.name] = _read(where, field, data, values)
    return cls(**values)


# --- encoding ---------------------------------------------------------------------------


def _write(field: _Field, value: Any) -> Any:
    if field.kind == "nested":
        return to_wire(value)
    if field.kind == "array":
        return [item if field.item is str else to_wire(item) for item in value]
    if field.kind == "keys":
        return {key: value[key] for key in field.item if value.get(key) is not None}
    return value


def to_wire(obj: Any) -> dict[str, Any]:
    """The JSON object form of a message or message part (None fields left out)."""
    layout = _layout(type(obj))
    data: dict[str, Any] = {} if layout.tag is None else {"type": layout.tag}
    for field in layout.encode_order:
        value = getattr(obj, field.name)
        if value is None and not field.rules.always:
            continue
        if field.rules.omit_default and value == field.default():
            continue
        data[field.name] = _write(field, value)
    return data


def known_keys(values: Mapping[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """``values`` without its None entries, in ``keys`` order; TypeError for another key."""
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise TypeError(f"{what} has unknown field(s) {unknown}; known fields: {list(keys)}")
    return {key: values[key] for key in keys if values.get(key) is not None}
