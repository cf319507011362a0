"""Fixtures for the plugin tests: span builders and clean plugin caches/environment."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spanlink.plugins.anomaly import clear_config_cache
from spanlink.plugins.cost import clear_price_file_cache
from spanlink.tracer.model import SpanRecord

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def clean_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No price file, no anomaly env settings, no cached settings leaking between tests."""
    for name in list(os.environ):
        if name.startswith("SPANLINK_ANOMALY_") or name in {
            "SPANLINK_PRICES",
            "SPANLINK_DISABLE_PLUGINS",
        }:
            monkeypatch.delenv(name)
    clear_price_file_cache()
    clear_config_cache()
    yield
    clear_price_file_cache()
    clear_config_cache()


SpanFactory = Callable[..., SpanRecord]


@pytest.fixture
def make_span() -> SpanFactory:
    """Build a finished span: ``make_span(name, attributes, start_ms=, duration_ms=, ...)``."""

    def build(
        name: str = "work",
        attributes: dict[str, Any] | None = None,
        *,
        start_ms: float = 0.0,
        duration_ms: float = 10.0,
        status: str = "UNSET",
        status_message: str | None = None,
        parent: str | None = None,
        span_id: str | None = None,
    ) -> SpanRecord:
        start = 1_700_000_000_000_000_000 + int(start_ms * 1e6)
        return SpanRecord(
            trace_id=TRACE_ID,
            span_id=span_id or f"{next(_ids):016x}",
            parent_span_id=parent,
            name=name,
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(duration_ms * 1e6),
            status_code=status,
            status_message=status_message,
            attributes=dict(attributes or {}),
        )

    return build


def llm_attributes(
    model: str = "gpt-4o-2024-08-06",
    input_tokens: int | None = 1000,
    output_tokens: int | None = 500,
    **extra: Any,
) -> dict[str, Any]:
    """GenAI attributes of a chat call."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
    }
    if input_tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    attributes.update(extra)
    return attributes


@pytest.fixture
def llm() -> Callable[..., dict[str, Any]]:
    """``llm(model, input_tokens, output_tokens, **extra)``: attributes of a chat call."""
    return llm_attributes
