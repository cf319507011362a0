"""A function's return value as a JSON value of bounded size, for the ``result`` message.

Dataclasses, pydantic models, enums, datetimes, UUIDs, decimals, bytes, tuples and sets get
their natural JSON form; anything else its bounded ``repr``. An output larger than the
limit becomes a string cut at the limit and ending with a marker, and the result says
``output_truncated``. Never raises: a failure to convert is reported in the output itself.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any, Final

from spanlink.tracer._content import safe_repr

__all__ = ["TRUNCATION_MARKER", "bounded_output", "to_json_value"]

#: Ends an output cut to the size limit.
TRUNCATION_MARKER: Final = "...[truncated]"
_MAX_DEPTH: Final = 32


def to_json_value(value: Any, depth: int = 0) -> Any:
    """``value`` made of JSON types only (dict with str keys, list, str, int, float...)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, depth + 1)
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(item, depth + 1) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: to_json_value(getattr(value, item.name), depth + 1)
            for item in dataclasses.fields(value)
        }
    dump = getattr(value, "model_dump", None)  # pydantic v2, without importing it
    if callable(dump) and not isinstance(value, type):
        try:
            return to_json_value(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return safe_repr(value)


def _cut(text: str, max_bytes: int) -> str:
    budget = max(0, max_bytes - len(TRUNCATION_MARKER.encode()))
    cut = text.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    return cut + TRUNCATION_MARKER


def bounded_output(value: Any, max_bytes: int) -> tuple[Any, bool]:
    """``(json_value, truncated)``: ``value`` as JSON of at most ``max_bytes`` UTF-8 bytes.

    A string too long is cut (it stays a string); any other value too large is replaced by
    its JSON text cut to the limit.
    """
    try:
        plain = to_json_value(value)
        text = json.dumps(plain, ensure_ascii=False, allow_nan=False)
    except Exception as error:  # a __iter__ or __eq__ of the user's that raises...
        return f"<output could not be converted to JSON: {type(error).__name__}>", True
    if len(text) <= max_bytes // 4 or len(text.encode("utf-8", "surrogatepass")) <= max_bytes:
        return plain, False
    if isinstance(plain, str):
        return _cut(plain, max_bytes), True
    return _cut(text, max_bytes), True
