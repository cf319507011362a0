"""The environment variables spanlink-pytest reads; command-line options always win."""

from __future__ import annotations

from typing import Final

__all__ = ["SPANLINK_API_KEY", "SPANLINK_ENDPOINT", "SPANLINK_ENVIRONMENT", "SPANLINK_PYTEST"]

SPANLINK_PYTEST: Final = "SPANLINK_PYTEST"
"""``1``/``true`` turns the plugin on, as ``--spanlink`` does (e.g. for a CI job)."""

SPANLINK_ENDPOINT: Final = "SPANLINK_ENDPOINT"
"""Base URL of the receiver (``--spanlink-url``)."""

SPANLINK_API_KEY: Final = "SPANLINK_API_KEY"
"""API key of the project the run is reported to (``--spanlink-api-key``)."""

SPANLINK_ENVIRONMENT: Final = "SPANLINK_ENVIRONMENT"
"""Environment name recorded on the run and its spans (``--spanlink-environment``)."""
