"""Test runs: connected endpoints (shared by every receiver) and the unlinked-span index.

Revision ID: 0003_testruns
Revises: 0002_enrichment
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import tenant_tables

revision = "0003_testruns"
down_revision = "0002_enrichment"
branch_labels = None
depends_on = None


SCHEMA = """
CREATE TABLE endpoint_connections (
    id text PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    receiver_id text NOT NULL,
    environment text,
    functions jsonb NOT NULL DEFAULT '[]'::jsonb,
    instance_id text,
    sdk text,
    sdk_version text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    connected_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoint_connections_project ON endpoint_connections (project_id, environment);
CREATE INDEX endpoint_connections_receiver ON endpoint_connections (receiver_id);

CREATE UNIQUE INDEX test_results_run_case ON test_results (run_id, case_id);
CREATE INDEX spans_unlinked ON spans (project_id, test_run_id, test_case_id)
    WHERE test_result_id IS NULL AND test_run_id IS NOT NULL;
CREATE INDEX test_results_trace ON test_results (project_id, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX test_results_recent ON test_results (project_id, created_at DESC);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    tenant_tables("endpoint_connections")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS test_results_recent")
    op.execute("DROP INDEX IF EXISTS test_results_trace")
    op.execute("DROP INDEX IF EXISTS spans_unlinked")
    op.execute("DROP INDEX IF EXISTS test_results_run_case")
    op.execute("DROP TABLE IF EXISTS endpoint_connections")
