"""Tests that need a service a newcomer's laptop may lack (Redis, Chromium...).

``require_service(reason)`` skips with that reason, except when
``SPANLINK_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where the missing service fails the test.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["REQUIRE_SERVICES", "require_service"]

REQUIRE_SERVICES = os.environ.get("SPANLINK_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def require_service(reason: str) -> None:
    """Skip (laptop) or fail (CI with SPANLINK_REQUIRE_SERVICES=1) because a service is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)
