"""Outputs as text and as JSON, JSON equality, and the small path syntax of ``json_path``.

Path syntax (a subset of JSONPath with no wildcards or filters, so a path names at most one
value)::

    $                 the whole output
    $.name            member ``name`` (letters, digits, ``_`` and ``-``)
    $['any key']      member with any characters (single or double quotes; ``\\`` escapes)
    $[0]  $[-1]       array element; negative counts from the end

Steps chain: ``$.choices[0].message['content']``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MISSING", "as_json", "as_text", "json_equal", "parse_path", "resolve_path"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What ``resolve_path`` and ``as_json`` return when there is no value.
MISSING: Any = _Missing()

_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=True)


def as_text(output: Any) -> str:
    """The output as text: a string as is, bytes decoded, anything else as JSON."""
    if isinstance(output, str):
        return output
    if isinstance(output, (bytes, bytearray)):
        return bytes(output).decode("utf-8", errors="replace")
    if output is None:
        return ""
    try:
        return _ENCODER.encode(output)
    except (ValueError, RecursionError):  # a cycle or nesting past the encoder's depth
        return str(output)


def as_json(output: Any) -> Any:
    """The output as JSON data: a string or bytes parsed, anything else as is; MISSING when
    a string is not JSON."""
    if isinstance(output, (bytes, bytearray)):
        output = bytes(output).decode("utf-8", errors="replace")
    if isinstance(output, str):
        try:
            return json.loads(output)
        except (ValueError, RecursionError):
            return MISSING
    return output


def _fold(text: str, ignore_case: bool, collapse_whitespace: bool) -> str:
    if collapse_whitespace:
        text = " ".join(text.split())
    return text.casefold() if ignore_case else text


def json_equal(
    left: Any, right: Any, *, ignore_case: bool = False, collapse_whitespace: bool = False
) -> bool:
    """JSON equality: objects ignore key order, numbers compare by value (1 == 1.0), but a
    bool is never a number; strings optionally fold case and collapse whitespace.

    Iterative, so deeply nested values cannot exhaust the stack.
    """
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        if isinstance(a, str) or isinstance(b, str):
            if not (isinstance(a, str) and isinstance(b, str)):
                return False
            if _fold(a, ignore_case, collapse_whitespace) != _fold(
                b, ignore_case, collapse_whitespace
            ):
                return False
        elif isinstance(a, bool) or isinstance(b, bool):
            if a is not b:
                return False
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if a != b and not (math.isnan(a) and math.isnan(b)):  # nan equals nan in JSON terms
                return False
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            if len(a) != len(b):
                return False
            for key, value in a.items():
                if key not in b:
                    return False
                stack.append((value, b[key]))
        elif (
            isinstance(a, Sequence)
            and isinstance(b, Sequence)
            and not isinstance(a, (bytes, bytearray))
        ):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif a is None or b is None:
            if a is not b:
                return False
        elif a != b:
            return False
    return True


_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_INDEX = re.compile(r"-?[0-9]+")


def parse_path(path: str) -> tuple[str | int, ...]:
    """The steps of a path (member names and indexes); ``ValueError`` saying where it is bad."""
    if not path.startswith("$"):
        raise ValueError(f"path {path!r} must start with '$'")
    steps: list[str | int] = []
    i, n = 1, len(path)
    while i < n:
        char = path[i]
        if char == ".":
            match = _NAME.match(path, i + 1)
            if match is None:
                raise ValueError(f"path {path!r}: expected a member name after '.' at {i}")
            steps.append(match.group())
            i = match.end()
        elif char == "[":
            if i + 1 < n and path[i + 1] in "'\"":
                quote, j, name = path[i + 1], i + 2, []
                while j < n and path[j] != quote:
                    if path[j] == "\\" and j + 1 < n:
                        j += 1
                    name.append(path[j])
                    j += 1
                if j + 1 >= n or path[j + 1] != "]":
                    raise ValueError(f"path {path!r}: unclosed quoted member at {i}")
                steps.append("".join(name))
                i = j + 2
            else:
                match = _INDEX.match(path, i + 1)
                if match is None or match.end() >= n or path[match.end()] != "]":
                    raise ValueError(f"path {path!r}: expected [<integer>] or ['name'] at {i}")
                steps.append(int(match.group()))
                i = match.end() + 1
        else:
            raise ValueError(
                f"path {path!r}: unexpected {char!r} at {i}; use .name, ['name'] or [0]"
            )
    return tuple(steps)


def resolve_path(data: Any, steps: tuple[str | int, ...]) -> Any:
    """The value the steps lead to in ``data``, or MISSING."""
    for step in steps:
        if isinstance(step, str):
            if not isinstance(data, Mapping) or step not in data:
                return MISSING
            data = data[step]
        else:
            if not isinstance(data, Sequence) or isinstance(data, (str, bytes, bytearray)):
                return MISSING
            if not -len(data) <= step < len(data):
                return MISSING
            data = data[step]
    return data
