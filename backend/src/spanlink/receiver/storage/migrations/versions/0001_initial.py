"""Initial schema: projects, API keys, spans, traces, enrichments, test runs and results.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from spanlink.receiver.storage.migrations._helpers import APP_ROLE, row_level_security

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RLS_TABLES = ("spans", "traces", "trace_enrichments", "test_runs", "test_results")

SCHEMA = """
CREATE TABLE projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key_hash text NOT NULL UNIQUE,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE spans (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_id text NOT NULL,
    span_id text NOT NULL,
    parent_span_id text,
    name text NOT NULL,
    kind text NOT NULL,
    start_ns bigint NOT NULL,
    end_ns bigint NOT NULL,
    duration_ns bigint NOT NULL,
    status_code text NOT NULL,
    status_message text,
    environment text,
    service_name text,
    test_run_id text,
    test_case_id text,
    test_result_id text,
    model text,
    input_tokens bigint,
    output_tokens bigint,
    attributes jsonb NOT NULL,
    events jsonb NOT NULL,
    links jsonb NOT NULL,
    resource jsonb NOT NULL,
    scope_name text,
    scope_version text,
    received_at timestamptz NOT NULL DEFAULT now(),
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, left(
            name || ' ' || coalesce(status_message, '') || ' '
            || coalesce(attributes->>'spanlink.input', '') || ' '
            || coalesce(attributes->>'spanlink.output', ''), 100000))
    ) STORED,
    PRIMARY KEY (project_id, trace_id, span_id)
);
CREATE INDEX spans_name ON spans (project_id, name);
CREATE INDEX spans_start ON spans (project_id, start_ns);
CREATE INDEX spans_test_run ON spans (project_id, test_run_id) WHERE test_run_id IS NOT NULL;
CREATE INDEX spans_test_case ON spans (project_id, test_case_id) WHERE test_case_id IS NOT NULL;
CREATE INDEX spans_test_result ON spans (project_id, test_result_id)
    WHERE test_result_id IS NOT NULL;
CREATE INDEX spans_attributes ON spans USING gin (attributes jsonb_path_ops);
CREATE INDEX spans_search ON spans USING gin (search);

CREATE TABLE traces (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_id text NOT NULL,
    start_ns bigint NOT NULL,
    end_ns bigint NOT NULL,
    duration_ns bigint GENERATED ALWAYS AS (end_ns - start_ns) STORED,
    root_name text,
    has_root boolean NOT NULL DEFAULT false,
    span_count integer NOT NULL,
    error_count integer NOT NULL,
    environment text,
    service_name text,
    test_run_id text,
    test_case_id text,
    test_result_id text,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id)
);
CREATE INDEX traces_start ON traces (project_id, start_ns DESC, trace_id);
CREATE INDEX traces_environment ON traces (project_id, environment, start_ns DESC);
CREATE INDEX traces_service ON traces (project_id, service_name, start_ns DESC);
CREATE INDEX traces_duration ON traces (project_id, duration_ns);
CREATE INDEX traces_errors ON traces (project_id, start_ns DESC) WHERE error_count > 0;
CREATE INDEX traces_test_run ON traces (project_id, test_run_id) WHERE test_run_id IS NOT NULL;

CREATE TABLE trace_enrichments (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    trace_id text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    plugin_versions jsonb NOT NULL DEFAULT '{}'::jsonb,
    span_count integer,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id)
);

CREATE TABLE test_runs (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name text,
    status text NOT NULL DEFAULT 'pending',
    configuration_id text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX test_runs_project ON test_runs (project_id, created_at DESC);

CREATE TABLE test_results (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    run_id text NOT NULL REFERENCES test_runs(id) ON DELETE CASCADE,
    case_id text,
    status text NOT NULL DEFAULT 'pending',
    input jsonb,
    output jsonb,
    error text,
    trace_id text,
    duration_ms double precision,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX test_results_run ON test_results (project_id, run_id);
"""

# Roles are cluster-wide: create it once, tolerate a concurrent creator, and go on without
# it when the migrating user may not create roles (the receiver then relies on its own
# login role being subject to row-level security, see ``spanlink.receiver.storage._engine``).
CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create role {APP_ROLE}; row-level security applies to the login role';
END
$$;
"""

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    row_level_security(*RLS_TABLES)
    op.execute(CREATE_ROLE)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS test_results, test_runs, trace_enrichments, traces, spans, "
        "api_keys, projects CASCADE"
    )
