"""``ClientStats``: what an :class:`~spanlink.endpoint.EndpointClient` has done so far."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientStats"]


@dataclass
class ClientStats:
    """Counters since the client was created (read them, don't write them)."""

    connections: int = 0
    registrations: int = 0
    invocations: int = 0
    results_sent: int = 0
    errors_sent: int = 0
    rejected: int = 0
    """Invocations refused because too many were pending."""
    chunks_sent: int = 0
    """Generator chunks streamed as ``chunk`` messages."""
