"""Full-text search vectors leave the ``spans`` row: ``span_search``, filled in the background.

The generated ``spans.search`` column computed ``to_tsvector`` of every span and updated its
GIN index inside the ingest transaction: over half of a batch's time. Now:

- ``span_search`` (project, trace, span -> vector; insert-only, row-level security like
  ``spans``) holds the vectors, with the GIN index. ``search`` is null and ``error`` says why
  for a span the indexer could not index (it is then skipped, not retried forever).
- ``span_search_queue``: each ingest batch adds one row naming the spans it inserted (at
  most 512 per row); the receivers' indexers claim rows (``FOR UPDATE SKIP LOCKED``), insert
  the vectors and delete the row in one transaction. The queue holds ids only, no content,
  and is read across projects by the indexer; search reads it for its own project only (the
  spans of a queued row not indexed yet are matched on the fly).

Existing vectors are moved, not recomputed.

Revision ID: 0009_span_search
Revises: 0008_query_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0009_span_search"
down_revision = "0008_query_indexes"
branch_labels = None
depends_on = None

APP_ROLE = "spanlink_app"
CURRENT_PROJECT = "NULLIF(current_setting('spanlink.project_id', true), '')::bigint"

SCHEMA = """
CREATE TABLE span_search (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_id text NOT NULL,
    span_id text NOT NULL,
    search tsvector,
    error text,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id, span_id)
);
CREATE TABLE span_search_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_ids text[] NOT NULL,
    span_ids text[] NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    not_before timestamptz NOT NULL DEFAULT now(),
    last_error text,
    queued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX span_search_queue_project ON span_search_queue (project_id);
"""

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON span_search, span_search_queue TO {APP_ROLE};
    END IF;
END
$$;
"""

# The owner moves every project's vectors: the policies are FORCEd on the owner too.
MOVE = """
ALTER TABLE spans NO FORCE ROW LEVEL SECURITY;
INSERT INTO span_search (project_id, trace_id, span_id, search)
    SELECT project_id, trace_id, span_id, search FROM spans;
ALTER TABLE spans FORCE ROW LEVEL SECURITY;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(MOVE)
    op.execute("CREATE INDEX span_search_search ON span_search USING gin (search)")
    op.execute("DROP INDEX spans_search")
    op.execute("ALTER TABLE spans DROP COLUMN search")
    op.execute("ALTER TABLE span_search ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE span_search FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY span_search_tenant ON span_search "
        f"USING (project_id = {CURRENT_PROJECT}) WITH CHECK (project_id = {CURRENT_PROJECT})"
    )
    op.execute(GRANTS)
    op.execute("ANALYZE span_search")


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE spans ADD COLUMN search tsvector GENERATED ALWAYS AS (
            to_tsvector('english'::regconfig, left(
                name || ' ' || coalesce(status_message, '') || ' '
                || coalesce(attributes->>'spanlink.input', '') || ' '
                || coalesce(attributes->>'spanlink.output', ''), 100000))
        ) STORED
        """
    )
    op.execute("CREATE INDEX spans_search ON spans USING gin (search)")
    op.execute("DROP TABLE span_search_queue, span_search")
