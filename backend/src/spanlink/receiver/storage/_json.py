"""JSON between the tables and the API: ``jsonb`` and text columns (test runs, results,
datasets; Postgres holds no NUL) and timestamps."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["iso", "json_text", "no_nul"]


def no_nul(value: Any) -> Any:
    """Postgres text and JSONB cannot hold NUL characters: replace them."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {no_nul(k): no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nul(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """``value`` as compact JSON text; NUL characters replaced (see :func:`no_nul`)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if "\\u0000" in text or "\x00" in text:
        text = json.dumps(no_nul(value), ensure_ascii=False, separators=(",", ":"))
    return text


def iso(value: Any) -> str | None:
    """A stored timestamp as ISO 8601 text; None stays None."""
    return value.isoformat() if value is not None else None
