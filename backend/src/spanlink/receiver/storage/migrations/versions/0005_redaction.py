"""Redaction rules per project (``PUT /api/v1/redaction``), under row-level security.

Revision ID: 0005_redaction
Revises: 0004_search_leakproof
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import tenant_tables

revision = "0005_redaction"
down_revision = "0004_search_leakproof"
branch_labels = None
depends_on = None


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
    tenant_tables("redaction_rules")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS redaction_rules")
