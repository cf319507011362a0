"""Per-project price tables for the cost enrichment (``GET/PUT /api/v1/prices``).

Revision ID: 0002_enrichment
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import tenant_tables

revision = "0002_enrichment"
down_revision = "0001"
branch_labels = None
depends_on = None


SCHEMA = """
CREATE TABLE project_prices (
    project_id bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    prices jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(prices) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    tenant_tables("project_prices")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS project_prices")
