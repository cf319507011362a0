"""Table definitions (SQLAlchemy Core) for queries; the DDL itself lives in ``migrations/``.

Tenancy: every table except ``projects``, ``api_keys`` and ``span_search_queue`` (ids only)
carries ``project_id`` and has a row-level-security policy keyed on the
``spanlink.project_id`` setting (see ``_engine``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

__all__ = [
    "APP_ROLE",
    "RLS_TABLES",
    "api_keys",
    "metadata",
    "projects",
    "scores",
    "span_search",
    "span_search_queue",
    "spans",
    "test_results",
    "test_runs",
    "trace_enrichments",
    "traces",
]

#: The role the receiver's connections act as; subject to row-level security.
APP_ROLE = "spanlink_app"

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

spans = Table(
    "spans",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("trace_id", Text, primary_key=True),
    Column("span_id", Text, primary_key=True),
    Column("parent_span_id", Text),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("status_code", Text, nullable=False),
    Column("status_message", Text),
    Column("environment", Text),
    Column("service_name", Text),
    Column("test_run_id", Text),
    Column("test_case_id", Text),
    Column("test_result_id", Text),
    Column("model", Text),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("attributes", JSONB, nullable=False),
    Column("events", JSONB, nullable=False),
    Column("links", JSONB, nullable=False),
    Column("resource", JSONB, nullable=False),
    Column("scope_name", Text),
    Column("scope_version", Text),
    Column("received_at", DateTime(timezone=True)),
)

#: Columns written at ingest, in COPY order (``received_at`` is the database's).
SPAN_COPY_COLUMNS: tuple[str, ...] = (
    "project_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status_code",
    "status_message",
    "environment",
    "service_name",
    "test_run_id",
    "test_case_id",
    "test_result_id",
    "model",
    "input_tokens",
    "output_tokens",
    "attributes",
    "events",
    "links",
    "resource",
    "scope_name",
    "scope_version",
)

#: A span's full-text vector, filled by the search indexer after ingest (``receiver.search``);
#: ``search`` is null and ``error`` says why for a span that could not be indexed.
span_search = Table(
    "span_search",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("trace_id", Text, primary_key=True),
    Column("span_id", Text, primary_key=True),
    Column("search", TSVECTOR),
    Column("error", Text),
    Column("indexed_at", DateTime(timezone=True)),
)

#: Spans stored and not indexed yet: one row per ingest batch (ids only, no content), so
#: this table is read across projects by the indexer and carries no row-level security.
span_search_queue = Table(
    "span_search_queue",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, nullable=False),
    Column("trace_ids", ARRAY(Text), nullable=False),
    Column("span_ids", ARRAY(Text), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("not_before", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("queued_at", DateTime(timezone=True)),
)

traces = Table(
    "traces",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("trace_id", Text, primary_key=True),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("duration_ns", BigInteger),
    Column("root_name", Text),
    Column("has_root", Boolean, nullable=False),
    Column("span_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("environment", Text),
    Column("service_name", Text),
    Column("test_run_id", Text),
    Column("test_case_id", Text),
    Column("test_result_id", Text),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

trace_enrichments = Table(
    "trace_enrichments",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("trace_id", Text, primary_key=True),
    Column("data", JSONB, nullable=False),
    Column("plugin_versions", JSONB, nullable=False),
    Column("span_count", Integer),
    Column("computed_at", DateTime(timezone=True)),
)

test_runs = Table(
    "test_runs",
    metadata,
    Column("project_id", BigInteger, nullable=False),
    Column("id", Text, primary_key=True),
    Column("name", Text),
    Column("status", Text, nullable=False),
    Column("configuration_id", Text),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

test_results = Table(
    "test_results",
    metadata,
    Column("project_id", BigInteger, nullable=False),
    Column("id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("case_id", Text),
    Column("status", Text, nullable=False),
    Column("input", JSONB),
    Column("output", JSONB),
    Column("error", Text),
    Column("trace_id", Text),
    Column("duration_ms", Float),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

scores = Table(
    "scores",
    metadata,
    Column("project_id", BigInteger, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("trace_id", Text),
    Column("span_id", Text),
    Column("result_id", Text),
    Column("run_id", Text),
    Column("name", Text, nullable=False),
    Column("value", Float),
    Column("label", Text),
    Column("passed", Boolean),
    Column("explanation", Text),
    Column("evaluator", Text),
    Column("evaluator_version", Text),
    Column("error", Text),
    Column("source", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("seq", BigInteger),
)

#: Tables guarded by row-level security on ``project_id``.
RLS_TABLES: tuple[str, ...] = (
    "spans",
    "span_search",
    "traces",
    "trace_enrichments",
    "test_runs",
    "test_results",
    "redaction_rules",
    "scores",
    "datasets",
    "dataset_versions",
    "dataset_cases",
)
