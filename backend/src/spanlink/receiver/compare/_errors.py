"""Errors of the comparison package, all under ``CompareError``.

::

    CompareError (ValueError)
     └── TraceTooLarge
"""

from __future__ import annotations

__all__ = ["CompareError", "TraceTooLarge"]


class CompareError(ValueError):
    """Two runs or two traces cannot be compared as asked."""


class TraceTooLarge(CompareError):
    """A trace has more spans than a structural diff accepts (the API answers 413)."""

    def __init__(self, side: str, spans: int, limit: int) -> None:
        self.side = side
        self.spans = spans
        self.limit = limit
        super().__init__(
            f"trace {side} has {spans} spans; a structural diff accepts at most {limit} "
            "per trace: compare a smaller trace, or the runs' case results instead"
        )
