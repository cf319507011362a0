"""Storage: the Postgres schema (SQLAlchemy Core tables, alembic migrations), engines and the
tenant scope of a transaction, projects and API keys, and the read queries of the trace API.

The receiver's engine acts as the row-level-security role and every transaction that touches
project data is bound to one project (:func:`project_transaction`).
"""

from __future__ import annotations

from spanlink.receiver.storage._api_keys import (
    KEY_PREFIX,
    KeyResolver,
    create_api_key,
    create_project,
    generate_key,
    hash_key,
)
from spanlink.receiver.storage._engine import (
    DatabaseUnavailable,
    create_app_engine,
    create_owner_engine,
    database_errors,
    project_scope,
    project_transaction,
    run_in_project,
    sqlalchemy_url,
)
from spanlink.receiver.storage._migrate import (
    current_revision,
    head_revision,
    is_current,
    upgrade,
)
from spanlink.receiver.storage._trace_queries import (
    TraceFilters,
    get_trace_json,
    list_traces,
    metrics,
)

__all__ = [
    "KEY_PREFIX",
    "DatabaseUnavailable",
    "KeyResolver",
    "TraceFilters",
    "create_api_key",
    "create_app_engine",
    "create_owner_engine",
    "create_project",
    "current_revision",
    "database_errors",
    "generate_key",
    "get_trace_json",
    "hash_key",
    "head_revision",
    "is_current",
    "list_traces",
    "metrics",
    "project_scope",
    "project_transaction",
    "run_in_project",
    "sqlalchemy_url",
    "upgrade",
]
