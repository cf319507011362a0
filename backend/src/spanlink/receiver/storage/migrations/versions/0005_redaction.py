"""Redaction rules per project (``PUT /api/v1/redaction``), under row-level security.

Revision ID: 0005_redaction
Revises: 0004_search_leakproof
"""

from __future__ import annotations

from alembic import op

revision = "0005_redaction"
down_revision = "0004_search_leakproof"
branch_labels = None
depends_on = None

APP_ROLE = "spanlink_app"
CURRENT_PROJECT = "NULLIF(current_setting('spanlink.project_id', true), '')::bigint"

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON redaction_rules TO {APP_ROLE};
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE redaction_rules (
            project_id bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
            config jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("ALTER TABLE redaction_rules ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE redaction_rules FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY redaction_rules_tenant ON redaction_rules "
        f"USING (project_id = {CURRENT_PROJECT}) WITH CHECK (project_id = {CURRENT_PROJECT})"
    )
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS redaction_rules")
