"""Scores: judgements of a trace, a span or a test result, under row-level security.

A score belongs to one project and points at what it judges: a trace (and optionally one
of its spans), a test result (and its run), or both. Results and runs are referenced with
``(project_id, id)`` foreign keys, so a score can never point into another project even
if an id were known there; deleting a run or a result deletes its scores. The checks keep
what a score holds bounded: no NaN or infinite values, bounded texts.

Revision ID: 0006_scores
Revises: 0005_redaction
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import tenant_tables

revision = "0006_scores"
down_revision = "0005_redaction"
branch_labels = None
depends_on = None


SCHEMA = """
CREATE UNIQUE INDEX test_runs_project_id ON test_runs (project_id, id);
CREATE UNIQUE INDEX test_results_project_id ON test_results (project_id, id);

CREATE TABLE scores (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id text NOT NULL DEFAULT gen_random_uuid()::text CHECK (length(id) BETWEEN 1 AND 200),
    trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    span_id text CHECK (span_id ~ '^[0-9a-f]{16}$'),
    result_id text,
    run_id text,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    value double precision
        CHECK (value IS NULL OR value NOT IN ('NaN'::float8, 'Infinity'::float8,
                                              '-Infinity'::float8)),
    label text CHECK (length(label) <= 1000),
    passed boolean,
    explanation text CHECK (length(explanation) <= 16384),
    evaluator text CHECK (length(evaluator) <= 200),
    evaluator_version text CHECK (length(evaluator_version) <= 100),
    error text CHECK (length(error) <= 16384),
    source text NOT NULL CHECK (source IN ('api', 'ingest', 'client', 'evaluator')),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Insertion order: a result's scores read back in the order its evaluators ran.
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (project_id, id),
    CHECK (trace_id IS NOT NULL OR result_id IS NOT NULL),
    FOREIGN KEY (project_id, result_id) REFERENCES test_results (project_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (project_id, run_id) REFERENCES test_runs (project_id, id) ON DELETE CASCADE
);
CREATE INDEX scores_result ON scores (project_id, result_id) WHERE result_id IS NOT NULL;
CREATE INDEX scores_run ON scores (project_id, run_id, name) WHERE run_id IS NOT NULL;
CREATE INDEX scores_trace ON scores (project_id, trace_id, name, value)
    WHERE trace_id IS NOT NULL;
CREATE INDEX scores_name ON scores (project_id, name, value);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    tenant_tables("scores")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS scores")
    op.execute("DROP INDEX IF EXISTS test_results_project_id")
    op.execute("DROP INDEX IF EXISTS test_runs_project_id")
