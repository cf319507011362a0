"""Turn an ``invoke``'s JSON arguments into the Python values a function's hints ask for.

JSON gives strings, numbers, booleans, null, arrays and objects; the function may want
dataclasses, pydantic models, enums, tuples, datetimes... Every problem is collected and
reported at once, with the path of the value (``order.items[2].qty: expected integer, got
string``), as an :class:`InvalidArguments` error: the invocation then fails cleanly with
that message instead of running the function with wrong data.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc as cabc
import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from spanlink.endpoint._schema import is_typeddict, resolve_hints
from spanlink.protocol import json_type

__all__ = ["Binder", "InvalidArguments"]

_MAX_REPORTED = 10


class InvalidArguments(ValueError):
    """The arguments of an invocation do not fit the function; the message lists each problem."""


class _Problem(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


def _expected(path: str, what: str, value: Any) -> _Problem:
    return _Problem(path, f"expected {what}, got {json_type(value)}")


def _parse_iso(parse: Callable[[str], Any], path: str, value: Any, what: str) -> Any:
    if not isinstance(value, str):
        raise _expected(path, f"{what} (ISO 8601 string)", value)
    try:
        return parse(value)
    except ValueError:
        raise _Problem(path, f"expected {what} (ISO 8601 string), got {value!r}") from None


def convert(value: Any, hint: Any, path: str = "") -> Any:
    """``value`` (decoded JSON) as an instance of ``hint``; raises ``_Problem`` if impossible."""
    if hint is Any or hint is object or hint is inspect.Parameter.empty:
        return value
    if hint is None or hint is type(None):
        if value is not None:
            raise _expected(path, "null", value)
        return None
    if isinstance(hint, typing.TypeVar):
        return convert(value, hint.__bound__, path) if hint.__bound__ is not None else value
    if isinstance(hint, typing.NewType):
        return convert(value, hint.__supertype__, path)
    if hint is str:
        if not isinstance(value, str):
            raise _expected(path, "string", value)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _expected(path, "boolean", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _expected(path, "integer", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _expected(path, "number", value)
        return float(value)
    if hint is bytes:
        if not isinstance(value, str):
            raise _expected(path, "base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Problem(path, "expected base64 string, got invalid base64") from None
    if hint is datetime.datetime:
        return _parse_iso(datetime.datetime.fromisoformat, path, value, "date-time")
    if hint is datetime.date:
        return _parse_iso(datetime.date.fromisoformat, path, value, "date")
    if hint is datetime.time:
        return _parse_iso(datetime.time.fromisoformat, path, value, "time")
    if hint is uuid.UUID:
        return _parse_iso(uuid.UUID, path, value, "UUID")
    if hint is decimal.Decimal:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return decimal.Decimal(str(value))
            except decimal.InvalidOperation:
                pass
        raise _expected(path, "decimal number", value)

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return convert(value, args[0], path)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, args, path)
    if origin is typing.Literal:
        for allowed in args:
            plain = allowed.value if isinstance(allowed, enum.Enum) else allowed
            if value == plain and type(value) is type(plain):
                return allowed
        raise _Problem(path, f"expected one of {[_plain(a) for a in args]!r}, got {value!r}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = [member.value for member in hint]
            raise _Problem(path, f"expected one of {allowed!r}, got {value!r}") from None
    if isinstance(hint, type) and callable(getattr(hint, "model_validate", None)):
        return _pydantic(value, hint, path)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(value, hint, path)
    if is_typeddict(hint):
        return _typeddict(value, hint, path)
    if origin is tuple or hint is tuple:
        return _tuple(value, args, path)
    if origin in (set, frozenset, cabc.Set, cabc.MutableSet) or hint in (set, frozenset):
        items = _items(value, args[0] if args else Any, path)
        return frozenset(items) if (origin or hint) is frozenset else set(items)
    if origin in (dict, cabc.Mapping, cabc.MutableMapping) or hint in (dict, cabc.Mapping):
        return _mapping(value, args, path)
    if origin in (list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection):
        return _items(value, args[0] if args else Any, path)
    if hint in (list, cabc.Sequence, cabc.Iterable):
        return _items(value, Any, path)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _expected(path, hint.__name__, value)
    return value  # a hint we cannot check (a Protocol, a string that did not resolve...)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _union(value: Any, members: tuple[Any, ...], path: str) -> Any:
    # An exact type match first, so ``int | float`` keeps 3 an int and 3.5 a float.
    exact = [m for m in members if isinstance(m, type) and type(value) is m]
    problems = []
    for member in [*exact, *(m for m in members if m not in exact)]:
        try:
            return convert(value, member, path)
        except _Problem as problem:
            problems.append(str(problem).removeprefix(f"{path}: ") if path else str(problem))
    raise _Problem(path, "matches none of the allowed types: " + "; ".join(problems))


def _items(value: Any, item_hint: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _expected(path, "array", value)
    return [convert(item, item_hint, f"{path}[{index}]") for index, item in enumerate(value)]


def _tuple(value: Any, args: tuple[Any, ...], path: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _expected(path, "array", value)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return tuple(_items(value, args[0] if args else Any, path))
    if args == ((),):
        args = ()
    if len(value) != len(args):
        raise _Problem(path, f"expected an array of {len(args)} items, got {len(value)}")
    return tuple(
        convert(item, hint, f"{path}[{index}]")
        for index, (item, hint) in enumerate(zip(value, args, strict=True))
    )


def _mapping(value: Any, args: tuple[Any, ...], path: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise _expected(path, "object", value)
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    result = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        converted_key = key if key_hint in (Any, str) else convert(key, key_hint, where)
        result[converted_key] = convert(item, value_hint, where)
    return result


def _fields(
    value: Any,
    cls: type,
    hints: Mapping[str, Any],
    required: set[str],
    allowed: set[str],
    path: str,
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expected(path, f"object ({cls.__name__})", value)
    unknown = sorted(set(value) - allowed)
    missing = sorted(required - set(value))
    prefix = f"{path}." if path else ""
    if missing:
        raise _Problem(path or cls.__name__, f"missing required field(s) {missing}")
    if unknown:
        raise _Problem(path or cls.__name__, f"unknown field(s) {unknown}")
    return {
        key: convert(item, hints.get(key, Any), f"{prefix}{key}") for key, item in value.items()
    }


def _dataclass(value: Any, cls: type, path: str) -> Any:
    hints = resolve_hints(cls)
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    required = {
        f.name
        for f in init_fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    kwargs = _fields(value, cls, hints, required, {f.name for f in init_fields}, path)
    try:
        return cls(**kwargs)
    except Exception as error:  # __post_init__ validation of the user's own class
        raise _Problem(path or cls.__name__, f"{type(error).__name__}: {error}") from None


def _typeddict(value: Any, cls: type, path: str) -> dict[str, Any]:
    hints = {}
    for key, hint in resolve_hints(cls).items():
        origin = typing.get_origin(hint)
        if origin is not None and getattr(origin, "_name", "") in {"NotRequired", "Required"}:
            hint = typing.get_args(hint)[0]
        hints[key] = hint
    required = set(getattr(cls, "__required_keys__", hints))
    return _fields(value, cls, hints, required, set(hints), path)


def _pydantic(value: Any, cls: Any, path: str) -> Any:
    try:
        return cls.model_validate(value)
    except Exception as error:
        # Pydantic's ValidationError lists every problem; keep it but drop its doc links.
        lines = [line for line in str(error).splitlines() if "errors.pydantic.dev" not in line]
        raise _Problem(path or cls.__name__, " ".join(line.strip() for line in lines)) from None


class Binder:
    """Binds JSON arguments to one function's parameters (signature read once)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.signature = inspect.signature(func)
        hints = resolve_hints(func)
        self.hints = {
            name: hints.get(name, Any) for name in self.signature.parameters if name != "return"
        }
        self.params = list(self.signature.parameters.values())
        self.var_keyword = next((p.name for p in self.params if p.kind is p.VAR_KEYWORD), None)

    def bind(self, name: str, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """``(args, kwargs)`` to call the function with; raises :class:`InvalidArguments`."""
        problems: list[str] = []
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        known = set()
        for param in self.params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            known.add(param.name)
            if param.name not in arguments:
                if param.default is param.empty:
                    problems.append(f"missing required argument {param.name!r}")
                elif param.kind is param.POSITIONAL_ONLY:
                    args.append(param.default)  # keep later positional-only ones in place
                continue
            hint = self.hints.get(param.name, Any)
            try:
                value = convert(arguments[param.name], hint, param.name)
            except _Problem as problem:
                problems.append(str(problem))
                continue
            except RecursionError:
                problems.append(f"{param.name}: value nested too deeply")
                continue
            if param.kind is param.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[param.name] = value
        extra = [key for key in arguments if key not in known]
        if extra:
            if self.var_keyword is None:
                problems.append(f"unexpected argument(s) {sorted(extra)}")
            else:
                for key in extra:
                    kwargs[key] = arguments[key]
        if problems:
            shown = problems[:_MAX_REPORTED]
            if len(problems) > _MAX_REPORTED:
                shown.append(f"... and {len(problems) - _MAX_REPORTED} more")
            raise InvalidArguments(
                f"invalid arguments for {name!r}: "
                + "; ".join(shown)
                + f". Expected parameters: {self.describe()}"
            )
        return args, kwargs

    def describe(self) -> str:
        """The signature as shown in error messages, e.g. ``(question: str, k: int = 3)``."""
        parts = []
        for param in self.params:
            prefix = _PREFIXES.get(param.kind, "")
            text = prefix + param.name
            hint = self.hints.get(param.name, Any)
            if hint is not Any:
                text += f": {_type_name(hint)}"
            if param.default is not param.empty:
                text += f" = {param.default!r}"
            parts.append(text)
        return "(" + ", ".join(parts) + ")"


_PREFIXES: dict[Any, str] = {
    inspect.Parameter.VAR_POSITIONAL: "*",
    inspect.Parameter.VAR_KEYWORD: "**",
}


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")
