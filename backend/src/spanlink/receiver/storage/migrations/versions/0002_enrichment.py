"""Per-project price tables for the cost enrichment (``GET/PUT /api/v1/prices``).

Revision ID: 0002_enrichment
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002_enrichment"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "spanlink_app"
CURRENT_PROJECT = "NULLIF(current_setting('spanlink.project_id', true), '')::bigint"

SCHEMA = """
CREATE TABLE project_prices (
    project_id bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    prices jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(prices) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON project_prices TO {APP_ROLE};
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute("ALTER TABLE project_prices ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE project_prices FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY project_prices_tenant ON project_prices "
        f"USING (project_id = {CURRENT_PROJECT}) WITH CHECK (project_id = {CURRENT_PROJECT})"
    )
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS project_prices")
