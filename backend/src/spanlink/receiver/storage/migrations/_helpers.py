"""What the migrations repeat: row-level security per project, and grants to the app role.

Migrations are history: a change here must keep the SQL every migration sends exactly as
it was (compare the statements of a fresh ``upgrade`` before and after).
"""

from __future__ import annotations

from alembic import op

__all__ = [
    "APP_ROLE",
    "CURRENT_PROJECT",
    "grant_to_app",
    "row_level_security",
    "tenant_tables",
]

#: The role the receiver's connections act as (``SET ROLE``), when it exists.
APP_ROLE = "spanlink_app"

#: The project a transaction acts for; '' (unset after a SET LOCAL) and NULL both mean none.
CURRENT_PROJECT = "NULLIF(current_setting('spanlink.project_id', true), '')::bigint"


def tenant_tables(*tables: str) -> None:
    """Make new tables per-project: :func:`row_level_security` on each, then
    :func:`grant_to_app` on them all."""
    row_level_security(*tables)
    grant_to_app(*tables)


def row_level_security(*tables: str) -> None:
    """Row-level security on each table (forced, so the owner is held too): a row is seen
    and written only by a transaction acting for its ``project_id``."""
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant ON {table} "
            f"USING (project_id = {CURRENT_PROJECT}) WITH CHECK (project_id = {CURRENT_PROJECT})"
        )


def grant_to_app(*tables: str) -> None:
    """Reading and writing rows of the tables to :data:`APP_ROLE`, when the role exists
    (the migrating user may not have been allowed to create it)."""
    op.execute(
        f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(tables)} TO {APP_ROLE};
    END IF;
END
$$;
"""
    )
