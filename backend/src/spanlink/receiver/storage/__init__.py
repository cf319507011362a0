"""Storage: the Postgres schema (SQLAlchemy Core tables, alembic migrations), engines and the
tenant scope of a transaction, projects and API keys, the read queries of the trace API, and
scores (bounded on every write path).

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
from spanlink.receiver.storage._bounds import MAX_INDEXED_BYTES, bigint_or_none, bound_indexed
from spanlink.receiver.storage._costs import TraceCost, cost_result, sum_costs, trace_cost
from spanlink.receiver.storage._deadline import database_deadline
from spanlink.receiver.storage._engine import (
    DatabaseRejected,
    DatabaseUnavailable,
    create_app_engine,
    create_owner_engine,
    database_errors,
    project_scope,
    project_transaction,
    read_in_project,
    run_in_project,
    sqlalchemy_url,
)
from spanlink.receiver.storage._metrics import metrics
from spanlink.receiver.storage._migrate import (
    current_revision,
    head_revision,
    is_current,
    upgrade,
)
from spanlink.receiver.storage._scores import (
    RESULT_SCORE_FIELDS,
    SCORE_SOURCES,
    ScoreFilters,
    ScoreRow,
    bounded,
    insert_scores,
    list_scores,
    replace_result_scores,
    result_score,
    scores_by_result,
)
from spanlink.receiver.storage._trace_detail import (
    get_span_json,
    read_trace_json,
)
from spanlink.receiver.storage._trace_queries import TraceFilters, list_traces

__all__ = [
    "KEY_PREFIX",
    "MAX_INDEXED_BYTES",
    "RESULT_SCORE_FIELDS",
    "SCORE_SOURCES",
    "DatabaseRejected",
    "DatabaseUnavailable",
    "KeyResolver",
    "ScoreFilters",
    "ScoreRow",
    "TraceCost",
    "TraceFilters",
    "bigint_or_none",
    "bound_indexed",
    "bounded",
    "cost_result",
    "create_api_key",
    "create_app_engine",
    "create_owner_engine",
    "create_project",
    "current_revision",
    "database_deadline",
    "database_errors",
    "generate_key",
    "get_span_json",
    "hash_key",
    "head_revision",
    "insert_scores",
    "is_current",
    "list_scores",
    "list_traces",
    "metrics",
    "project_scope",
    "project_transaction",
    "read_in_project",
    "read_trace_json",
    "replace_result_scores",
    "result_score",
    "run_in_project",
    "scores_by_result",
    "sqlalchemy_url",
    "sum_costs",
    "trace_cost",
    "upgrade",
]
