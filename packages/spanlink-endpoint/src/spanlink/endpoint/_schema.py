"""JSON Schema (draft 2020-12) of a function's parameters and return type, from type hints.

Covers builtins, ``Optional``/``Union``/``X | Y``, ``list``/``tuple``/``set``/``dict`` and
their ``collections.abc`` forms, ``Literal``, ``Enum``, ``Annotated``, dataclasses,
``TypedDict``, datetime/date/UUID/Decimal, and pydantic models (any class with a
``model_json_schema()`` method: pydantic is used when present, never required). Named types
go to ``$defs`` and are referenced, so recursive types work. A hint with no JSON form gives
``{}`` (anything): registration never fails because of a type hint.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime
import decimal
import enum
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

__all__ = [
    "is_typeddict",
    "output_schema",
    "parameters_schema",
    "resolve_hints",
    "stream_item_type",
    "type_schema",
]

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string", "contentEncoding": "base64"},
    type(None): {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    decimal.Decimal: {"type": "string", "format": "decimal"},
}
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection)
_SETS = (set, frozenset, cabc.Set, cabc.MutableSet)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)
_STREAMS = (
    cabc.Iterator,
    cabc.Generator,
    cabc.AsyncIterator,
    cabc.AsyncGenerator,
    cabc.AsyncIterable,
)


def is_typeddict(hint: Any) -> bool:
    """True for a ``TypedDict`` class."""
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__total__")


def _is_pydantic(hint: Any) -> bool:
    return isinstance(hint, type) and callable(getattr(hint, "model_json_schema", None))


def resolve_hints(obj: Any) -> dict[str, Any]:
    """``typing.get_type_hints`` with ``Annotated`` kept.

    When one hint does not resolve (a name defined later or only under ``TYPE_CHECKING``),
    the others still do; the broken ones are left out (meaning: anything).
    """
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:
        pass
    annotations = getattr(obj, "__annotations__", None)
    if not isinstance(annotations, dict):
        return {}
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    namespace = getattr(obj, "__globals__", None) or (vars(module) if module else {})
    hints: dict[str, Any] = {}
    for name, annotation in annotations.items():
        try:
            hints[name] = typing.get_type_hints(
                _Single(name, annotation), namespace, include_extras=True
            )[name]
        except Exception:
            continue
    return hints


class _Single:
    """An object with one annotation, to resolve annotations one at a time."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.__annotations__ = {name: annotation}


class _Builder:
    """One schema being built: collects ``$defs`` for named types."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}
        self.names: dict[Any, str] = {}

    def finish(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.defs:
            schema = {**schema, "$defs": self.defs}
        return schema

    def _ref(self, hint: Any, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        name = self.names.get(hint)
        if name is None:
            name = getattr(hint, "__name__", "Type")
            base, counter = name, 2
            while name in self.defs:  # two different classes with one name
                name, counter = f"{base}{counter}", counter + 1
            self.names[hint] = name
            self.defs[name] = {}  # placeholder: a recursive reference resolves to it
            self.defs[name] = build()
        return {"$ref": f"#/$defs/{name}"}

    def schema(self, hint: Any) -> dict[str, Any]:
        if hint is Any or hint is inspect.Parameter.empty or hint is object:
            return {}
        if hint is None:
            hint = type(None)
        if isinstance(hint, typing.TypeVar):
            bound = hint.__bound__
            return self.schema(bound) if bound is not None else {}
        if isinstance(hint, typing.NewType):
            return self.schema(hint.__supertype__)
        scalar = _SCALARS.get(hint)
        if scalar is not None:
            return dict(scalar)
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            inner = self.schema(args[0])
            notes = [item for item in args[1:] if isinstance(item, str)]
            if notes and "$ref" not in inner:
                inner = {**inner, "description": " ".join(notes)}
            return inner
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args)
        if origin is typing.Literal:
            values = [v.value if isinstance(v, enum.Enum) else v for v in args]
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return self._ref(hint, lambda: _enum_schema(hint))
        if _is_pydantic(hint):
            return self._ref(hint, lambda: self._pydantic(hint))
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self._ref(hint, lambda: self._dataclass(hint))
        if is_typeddict(hint):
            return self._ref(hint, lambda: self._typeddict(hint))
        if origin in (tuple,) or hint is tuple:
            return self._tuple(args)
        if origin in _SETS or hint in _SETS:
            return _array(self.schema(args[0]) if args else {}, unique=True)
        if origin in _MAPPINGS or hint in _MAPPINGS:
            value_schema = self.schema(args[1]) if len(args) == 2 else {}
            schema: dict[str, Any] = {"type": "object"}
            if value_schema:
                schema["additionalProperties"] = value_schema
            return schema
        if origin in _SEQUENCES or hint in _SEQUENCES:
            return _array(self.schema(args[0]) if args else {})
        if isinstance(hint, type) and issubclass(hint, str):
            return {"type": "string"}
        return {}

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        members = [self.schema(arg) for arg in args]
        if any(member == {} for member in members):
            return {}
        unique: list[dict[str, Any]] = []
        for member in members:
            if member not in unique:
                unique.append(member)
        return unique[0] if len(unique) == 1 else {"anyOf": unique}

    def _tuple(self, args: tuple[Any, ...]) -> dict[str, Any]:
        if not args:
            return _array({})
        if len(args) == 2 and args[1] is Ellipsis:
            return _array(self.schema(args[0]))
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        items = [self.schema(arg) for arg in args]
        return {
            "type": "array",
            "prefixItems": items,
            "items": False,
            "minItems": len(items),
            "maxItems": len(items),
        }

    def _dataclass(self, cls: type) -> dict[str, Any]:
        hints = resolve_hints(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for item in dataclasses.fields(cls):
            if not item.init:
                continue
            prop = self.schema(hints.get(item.name, Any))
            if item.default is not dataclasses.MISSING:
                prop = _with_default(prop, item.default)
            elif item.default_factory is dataclasses.MISSING:
                required.append(item.name)
            properties[item.name] = prop
        schema: dict[str, Any] = {
            "type": "object",
            "title": cls.__name__,
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        doc = _own_doc(cls)
        if doc:
            schema["description"] = doc
        return schema

    def _typeddict(self, cls: type) -> dict[str, Any]:
        hints = resolve_hints(cls)
        required_keys = getattr(cls, "__required_keys__", frozenset(hints))
        properties = {}
        for key, hint in hints.items():
            # NotRequired[...] / Required[...] wrap the real type.
            origin = typing.get_origin(hint)
            if origin is not None and getattr(origin, "_name", "") in {"NotRequired", "Required"}:
                hint = typing.get_args(hint)[0]
            properties[key] = self.schema(hint)
        schema: dict[str, Any] = {"type": "object", "title": cls.__name__, "properties": properties}
        required = [key for key in hints if key in required_keys]
        if required:
            schema["required"] = required
        return schema

    def _pydantic(self, cls: Any) -> dict[str, Any]:
        try:
            schema = dict(cls.model_json_schema())
        except Exception:
            return {"type": "object", "title": getattr(cls, "__name__", "Model")}
        # Pydantic refers to its own definitions as #/$defs/Name: hoist them into ours.
        for name, definition in (schema.pop("$defs", None) or {}).items():
            self.defs.setdefault(name, definition)
        return schema


def _enum_schema(cls: type[enum.Enum]) -> dict[str, Any]:
    values = [member.value for member in cls]
    schema: dict[str, Any] = {"title": cls.__name__, "enum": values}
    if all(isinstance(v, str) for v in values):
        schema["type"] = "string"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        schema["type"] = "integer"
    return schema


def _array(items: dict[str, Any], unique: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    if items:
        schema["items"] = items
    if unique:
        schema["uniqueItems"] = True
    return schema


def _json_default(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, (str, bool, int)):
        return True, value
    if isinstance(value, float) and value == value and value not in (float("inf"), -float("inf")):
        return True, value
    if isinstance(value, enum.Enum):
        return _json_default(value.value)
    if isinstance(value, (list, tuple)):
        items = [_json_default(item) for item in value]
        if all(ok for ok, _ in items):
            return True, [item for _, item in items]
    return False, None


def _with_default(schema: dict[str, Any], default: Any) -> dict[str, Any]:
    ok, value = _json_default(default)
    if not ok:
        return schema
    if "$ref" in schema:  # keep $ref alone for older validators
        return {"allOf": [schema], "default": value}
    return {**schema, "default": value}


def _own_doc(obj: Any) -> str | None:
    doc = obj.__dict__.get("__doc__") if hasattr(obj, "__dict__") else None
    name = getattr(obj, "__name__", "")
    if not doc or (dataclasses.is_dataclass(obj) and doc.startswith(f"{name}(")):
        return None  # the dataclass-generated signature is not a description
    return inspect.cleandoc(doc)


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of values of type ``hint`` (with ``$defs`` when it needs them)."""
    builder = _Builder()
    return builder.finish(builder.schema(hint))


def parameters_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of the arguments object an ``invoke`` passes to ``func``.

    Every named parameter is a property; those without a default are required. ``*args``
    is not invocable by name and is left out; ``**kwargs`` allows extra properties.
    """
    signature = inspect.signature(func)
    hints = resolve_hints(func)
    builder = _Builder()
    properties: dict[str, Any] = {}
    required: list[str] = []
    extra = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.VAR_KEYWORD:
            extra = True
            continue
        hint = hints.get(param.name, param.annotation)
        if isinstance(hint, str):  # an annotation that did not resolve
            hint = Any
        prop = builder.schema(hint)
        if param.default is param.empty:
            required.append(param.name)
        else:
            prop = _with_default(prop, param.default)
        properties[param.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": extra,
    }
    if required:
        schema["required"] = required
    return builder.finish(schema)


def stream_item_type(hint: Any) -> Any:
    """The item type of ``Iterator[X]``/``Generator[X, ...]``/``AsyncIterator[X]``..., else Any."""
    origin = typing.get_origin(hint)
    if origin in _STREAMS or origin is cabc.Iterable:
        args = typing.get_args(hint)
        return args[0] if args else Any
    return Any


def output_schema(func: Callable[..., Any], streaming: bool) -> dict[str, Any]:
    """The JSON Schema of a ``result``'s ``output`` for ``func``.

    For a generator the output is the concatenation of its str chunks (a string) or the
    list of its chunks.
    """
    hint = resolve_hints(func).get("return", Any)
    if not streaming:
        return type_schema(hint)
    item = stream_item_type(hint)
    if item is str:
        return {"type": "string"}
    builder = _Builder()
    return builder.finish(_array(builder.schema(item)))
