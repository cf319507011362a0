"""The receiver's enrichment pipeline: plugins run over whole traces, results stored per trace.

After an ingest batch commits, its traces are queued (bounded, de-duplicated per project and
trace) and enriched once they have been quiet for ``enrichment_debounce_ms``, again when
later spans arrive. Plugins are the entry points of group ``spanlink``
(``SPANLINK_DISABLE_PLUGINS`` turns some off). Results are stored once per trace in
``trace_enrichments``: ``data = {"spans": {span_id: {plugin: result}}, "trace": {plugin:
result}, "errors": {plugin: message}}`` with the ``plugin_versions`` that produced them.
Executors (``Executor``): in-process (default) or Celery workers (``spanlink-receiver
worker``); a full queue falls back to direct enrichment, ``GET /api/v1/traces/{id}?sync=true``
computes a missing or stale enrichment on demand.

Modules: ``_queue`` (debounce), ``_runner`` (plugins on threads, with deadlines),
``_store`` (the database side), ``_service`` (the flow), ``_executors`` and ``_celery``
(where a trace is enriched), ``_prices`` (the project price table the API accepts).
"""

from __future__ import annotations

from spanlink.receiver.enrichment._celery import CeleryExecutor, CeleryMissing, run_worker
from spanlink.receiver.enrichment._executors import Enricher, Executor, InProcessExecutor
from spanlink.receiver.enrichment._prices import PriceTableError, validate_price_table
from spanlink.receiver.enrichment._queue import DebounceQueue
from spanlink.receiver.enrichment._runner import (
    EnrichmentResult,
    PluginRunner,
    PluginSet,
    default_plugins,
)
from spanlink.receiver.enrichment._service import EnrichmentService
from spanlink.receiver.enrichment._store import load_prices, save_prices

__all__ = [
    "CeleryExecutor",
    "CeleryMissing",
    "DebounceQueue",
    "Enricher",
    "EnrichmentResult",
    "EnrichmentService",
    "Executor",
    "InProcessExecutor",
    "PluginRunner",
    "PluginSet",
    "PriceTableError",
    "default_plugins",
    "load_prices",
    "run_worker",
    "save_prices",
    "validate_price_table",
]
