"""Indexes for the trace list's filters: errors of one service, spans of a test run.

- ``service`` + ``status=error``: a partial index on the failed traces of each service in
  list order, so the page and its total read only those (the service index alone visits
  every trace of the service to find its failed ones).
- ``test_run_id``: the spans index on the run id now carries the trace id, so the matching
  traces are collected from the index alone; it replaces the narrower one.

Revision ID: 0008_query_indexes
Revises: 0007_datasets
"""

from __future__ import annotations

from alembic import op

revision = "0008_query_indexes"
down_revision = "0007_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX traces_service_errors ON traces "
        "(project_id, service_name, start_ns DESC, trace_id) WHERE error_count > 0"
    )
    op.execute(
        "CREATE INDEX spans_test_run_trace ON spans (project_id, test_run_id, trace_id) "
        "WHERE test_run_id IS NOT NULL"
    )
    op.execute("DROP INDEX spans_test_run")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX spans_test_run ON spans (project_id, test_run_id) "
        "WHERE test_run_id IS NOT NULL"
    )
    op.execute("DROP INDEX spans_test_run_trace")
    op.execute("DROP INDEX traces_service_errors")
