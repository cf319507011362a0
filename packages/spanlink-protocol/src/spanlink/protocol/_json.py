"""JSON value types named as JSON Schema names them."""

from __future__ import annotations

from typing import Any

__all__ = ["is_json_integer", "json_type"]


def is_json_integer(value: Any) -> bool:
    """True for a JSON Schema ``integer``: a number without fractional part (``3``, ``3.0``).

    A boolean is never an integer, although Python's ``bool`` subclasses ``int``.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value, for error messages.

    ``integer`` for any integral number (``3`` and ``3.0`` alike, as JSON Schema counts
    them), ``number`` for other numbers, ``boolean`` for ``True``/``False``; a value that
    is not JSON gets its Python type name.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_json_integer(value):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
