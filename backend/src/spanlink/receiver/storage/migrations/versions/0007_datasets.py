"""Datasets: named, versioned sets of test cases per project, under row-level security.

A dataset (unique name per project) has numbered versions; a version's cases are stored
with it and never change, so runs of one version compare case by case. Pushing cases adds
a version (replacing or adding to the previous cases).

Revision ID: 0007_datasets
Revises: 0006_scores
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import tenant_tables

revision = "0007_datasets"
down_revision = "0006_scores"
branch_labels = None
depends_on = None

TABLES = ("datasets", "dataset_versions", "dataset_cases")

SCHEMA = """
CREATE TABLE datasets (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id text NOT NULL DEFAULT gen_random_uuid()::text,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text CHECK (length(description) <= 2000),
    latest_version integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);

CREATE TABLE dataset_versions (
    project_id bigint NOT NULL,
    dataset_id text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    case_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, dataset_id, version),
    FOREIGN KEY (project_id, dataset_id) REFERENCES datasets (project_id, id) ON DELETE CASCADE
);

CREATE TABLE dataset_cases (
    project_id bigint NOT NULL,
    dataset_id text NOT NULL,
    version integer NOT NULL,
    position integer NOT NULL,
    case_id text NOT NULL CHECK (length(case_id) BETWEEN 1 AND 200),
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    expected_output jsonb,
    has_expected boolean NOT NULL DEFAULT false,
    evaluators jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (project_id, dataset_id, version, position),
    UNIQUE (project_id, dataset_id, version, case_id),
    FOREIGN KEY (project_id, dataset_id, version)
        REFERENCES dataset_versions (project_id, dataset_id, version) ON DELETE CASCADE
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    tenant_tables(*TABLES)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dataset_cases, dataset_versions, datasets")
