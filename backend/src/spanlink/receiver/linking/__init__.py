"""Linking stored spans to test results: the strategies, the link worker, the orphan sweep.

A strategy (the builtin ``hybrid`` and ``trace_id``, or a plugin's, chosen with
``SPANLINK_LINKING_STRATEGY`` through the ``spanlink_linking_strategy`` hook) links spans
when a batch is stored (:class:`LinkWorker`, an ingest commit listener), when a result is
stored (``link_result``, called by the test runs) and periodically (:class:`OrphanSweep`).
"""

from __future__ import annotations

from spanlink.receiver.linking._load import load_strategy
from spanlink.receiver.linking._strategies import (
    DEFAULT_STRATEGY,
    HybridStrategy,
    ReceiverLinkingStrategy,
    ResultLink,
    TraceIdStrategy,
)
from spanlink.receiver.linking._sweep import OrphanSweep
from spanlink.receiver.linking._worker import LINK_QUEUE_SIZE, LinkWorker

__all__ = [
    "DEFAULT_STRATEGY",
    "LINK_QUEUE_SIZE",
    "HybridStrategy",
    "LinkWorker",
    "OrphanSweep",
    "ReceiverLinkingStrategy",
    "ResultLink",
    "TraceIdStrategy",
    "load_strategy",
]
