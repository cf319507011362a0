"""The exception root of spanlink-pytest.

SpanlinkPytestError
└── EvaluationFailed   a required score of spanlink.check() or the marker did not pass
"""

from __future__ import annotations

__all__ = ["EvaluationFailed", "SpanlinkPytestError"]


class SpanlinkPytestError(Exception):
    """Something spanlink-pytest was asked to do cannot be done; the message says what to do."""


class EvaluationFailed(SpanlinkPytestError, AssertionError):
    """A required score did not pass (an ``AssertionError``, so pytest reports a failure)."""
