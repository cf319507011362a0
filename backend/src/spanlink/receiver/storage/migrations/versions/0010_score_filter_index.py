"""The trace list's score filter reads the scores' trace and result ids from the index.

``score_name`` (with ``score_min``/``score_max``) collects the traces with such a score,
or whose test result has one: the index on (project, name, value) now also carries
``trace_id`` and ``result_id``, so those ids come from an index-only scan instead of one
heap visit per score; it replaces the narrower ``scores_name``.

Revision ID: 0010_score_filter_index
Revises: 0009_span_search
"""

from __future__ import annotations

from alembic import op

revision = "0010_score_filter_index"
down_revision = "0009_span_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX scores_name_ids ON scores (project_id, name, value) "
        "INCLUDE (trace_id, result_id)"
    )
    op.execute("DROP INDEX scores_name")


def downgrade() -> None:
    op.execute("CREATE INDEX scores_name ON scores (project_id, name, value)")
    op.execute("DROP INDEX scores_name_ids")
