"""Let full-text search use its GIN index under row-level security.

Postgres applies a table's row-level-security policy before any user condition whose
operator is not marked leakproof, and such a condition cannot drive an index scan: with
RLS on ``spans``, ``search @@ query`` fell back to scanning every span. ``ts_match_vq``
(the ``tsvector @@ tsquery`` operator) returns a boolean from its two inputs and raises no
data-dependent error, so it is safe to mark leakproof. Only a superuser may; otherwise
search still works, through the slower plan.

Revision ID: 0004_search_leakproof
Revises: 0003_testruns
"""

from __future__ import annotations

from alembic import op

revision = "0004_search_leakproof"
down_revision = "0003_testruns"
branch_labels = None
depends_on = None

MARK = """
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    ELSE
        RAISE NOTICE 'not a superuser: full-text search under row-level security stays slow';
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(MARK)


def downgrade() -> None:
    op.execute(MARK.replace("LEAKPROOF;", "NOT LEAKPROOF;"))
