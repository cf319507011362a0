"""Where a quiet trace is enriched: the executor interface and the in-process executor.

The service hands each trace whose debounce expired to its executor; an executor that cannot
take it (a broker that is down) says False and the trace is enriched in-process instead.
``_celery.CeleryExecutor`` sends traces to ``spanlink-receiver worker`` processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Enricher", "Executor", "InProcessExecutor"]


class Enricher(Protocol):
    """What executes an enrichment: one trace, loaded, enriched and stored."""

    def enrich_now(self, project_id: int, trace_id: str) -> object:
        """Enrich one trace now and store the result."""


class Executor(Protocol):
    """Runs the enrichment of one trace somewhere."""

    def send(self, project_id: int, trace_id: str) -> bool:
        """Enrich the trace (or queue it for a worker); False when this executor cannot."""

    def close(self) -> None:
        """Release what the executor holds (connections, threads)."""


class InProcessExecutor:
    """Enriches on the calling thread (the service's worker and fallback threads)."""

    def __init__(self, enrich: Callable[[int, str], None]) -> None:
        self._enrich = enrich

    def send(self, project_id: int, trace_id: str) -> bool:
        """Enrich now; errors are the callable's to log."""
        self._enrich(project_id, trace_id)
        return True

    def close(self) -> None:
        """Nothing to release."""
