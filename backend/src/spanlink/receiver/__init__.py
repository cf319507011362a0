"""spanlink's receiver: OTLP/HTTP trace ingestion into Postgres, a query API, tenancy, test runs.

The public names, imported on first use (so the command line starts quickly)::

    from spanlink.receiver import Settings, create_app, start_in_thread

Subpackages, one per stage: ``api`` (routers, authentication), ``ingest`` (OTLP -> rows),
``storage`` (schema, migrations, engines, queries), ``enrichment``, ``testruns``, ``cli``
and ``ui``; ``compare`` holds run comparison.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spanlink.receiver._version import __version__

if TYPE_CHECKING:
    from spanlink.receiver.app import create_app
    from spanlink.receiver.embedded import EmbeddedDatabaseError, ensure_database_url
    from spanlink.receiver.ingest import span_record_from_otlp, span_record_from_row
    from spanlink.receiver.server import ReceiverStartError, RunningReceiver, start_in_thread
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import (
        DatabaseUnavailable,
        create_api_key,
        create_app_engine,
        create_project,
        head_revision,
        project_scope,
        project_transaction,
        upgrade,
    )

__all__ = [
    "DatabaseUnavailable",
    "EmbeddedDatabaseError",
    "ReceiverStartError",
    "RunningReceiver",
    "Settings",
    "__version__",
    "create_api_key",
    "create_app",
    "create_app_engine",
    "create_project",
    "ensure_database_url",
    "head_revision",
    "project_scope",
    "project_transaction",
    "span_record_from_otlp",
    "span_record_from_row",
    "start_in_thread",
    "upgrade",
]

_HOMES = {
    "DatabaseUnavailable": "storage",
    "EmbeddedDatabaseError": "embedded",
    "ReceiverStartError": "server",
    "RunningReceiver": "server",
    "Settings": "settings",
    "create_api_key": "storage",
    "create_app": "app",
    "create_app_engine": "storage",
    "create_project": "storage",
    "ensure_database_url": "embedded",
    "head_revision": "storage",
    "project_scope": "storage",
    "project_transaction": "storage",
    "span_record_from_otlp": "ingest",
    "span_record_from_row": "ingest",
    "start_in_thread": "server",
    "upgrade": "storage",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
