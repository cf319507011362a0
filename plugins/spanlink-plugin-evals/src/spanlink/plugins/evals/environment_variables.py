"""Environment variables of spanlink-plugin-evals (parameters of a configuration win)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "SPANLINK_JUDGE_API_KEY",
    "SPANLINK_JUDGE_BASE_URL",
    "SPANLINK_JUDGE_CONCURRENCY",
    "SPANLINK_JUDGE_MODEL",
    "SPANLINK_JUDGE_TIMEOUT",
]

SPANLINK_JUDGE_BASE_URL: Final = "SPANLINK_JUDGE_BASE_URL"
"""Base URL of the OpenAI-compatible API ``llm_judge`` calls (``.../v1``; it appends
``/chat/completions``), when its ``base_url`` parameter is not given."""

SPANLINK_JUDGE_MODEL: Final = "SPANLINK_JUDGE_MODEL"
"""Model ``llm_judge`` asks, when its ``model`` parameter is not given."""

SPANLINK_JUDGE_API_KEY: Final = "SPANLINK_JUDGE_API_KEY"
"""The API key ``llm_judge`` sends as a bearer token, when its ``api_key_env`` parameter
names no other variable. Unset: no ``Authorization`` header (local servers)."""

SPANLINK_JUDGE_CONCURRENCY: Final = "SPANLINK_JUDGE_CONCURRENCY"
"""Judge requests in flight at once per event loop (default 4)."""

SPANLINK_JUDGE_TIMEOUT: Final = "SPANLINK_JUDGE_TIMEOUT"
"""Seconds one judgement may take in all, retries and waiting for a slot included
(default 60), when its ``timeout_s`` parameter is not given."""
