"""The receiver's enrichment pipeline: plugins run over whole traces, results stored per trace.

After an ingest batch commits, its traces are queued (bounded, de-duplicated per project and
trace) and enriched once they have been quiet for ``enrichment_debounce_ms``, again when
later spans arrive. Plugins are the entry points of group ``spanlink``
(``SPANLINK_DISABLE_PLUGINS`` turns some off). Results are stored once per trace in
``trace_enrichments``: ``data = {"spans": {span_id: {plugin: result}}, "trace": {plugin:
result}, "errors": {plugin: message}}`` with the ``plugin_versions`` that produced them.
Executors: in-process asyncio workers (default) or Celery workers (``spanlink-receiver
worker``); a full queue falls back to direct enrichment, ``GET /api/v1/traces/{id}?sync=true``
computes a missing or stale enrichment on demand.

Names are imported on first use, so the command line stays quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanlink.receiver.enrichment.install import install_enrichment
    from spanlink.receiver.enrichment.prices import PriceTableError, validate_price_table
    from spanlink.receiver.enrichment.queue import DebounceQueue
    from spanlink.receiver.enrichment.runner import (
        EnrichmentResult,
        PluginRunner,
        PluginSet,
        default_plugins,
    )
    from spanlink.receiver.enrichment.service import EnrichmentService

__all__ = [
    "DebounceQueue",
    "EnrichmentResult",
    "EnrichmentService",
    "PluginRunner",
    "PluginSet",
    "PriceTableError",
    "default_plugins",
    "install_enrichment",
    "validate_price_table",
]

_MODULES = {
    "DebounceQueue": "queue",
    "EnrichmentResult": "runner",
    "EnrichmentService": "service",
    "PluginRunner": "runner",
    "PluginSet": "runner",
    "PriceTableError": "prices",
    "default_plugins": "runner",
    "install_enrichment": "install",
    "validate_price_table": "prices",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
