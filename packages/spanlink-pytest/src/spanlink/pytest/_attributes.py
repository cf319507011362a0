"""Span attribute names of the pytest plugin (``spanlink.test.*`` beside the tracer's)."""

from __future__ import annotations

from typing import Final

__all__ = ["PHASES", "PHASE_ATTRIBUTE", "TEST_NODE_ID", "TEST_OUTCOME"]

PHASE_ATTRIBUTE: Final = "spanlink.test.phase"
"""The pytest phase a span was started in: ``setup``, ``call`` or ``teardown``."""

PHASES: Final = ("setup", "call", "teardown")

TEST_NODE_ID: Final = "spanlink.test.node_id"
"""The pytest node id, on the test's root span."""

TEST_OUTCOME: Final = "spanlink.test.outcome"
"""The test's outcome (``passed``, ``failed``, ...), on the test's root span."""
