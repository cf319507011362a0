"""The list filters' indexes exist after ``upgrade`` and the planner uses them once the
tables are large enough for an index to pay off."""

from __future__ import annotations

import psycopg

from spanlink.receiver.storage import head_revision


def _indexes(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as connection:
        return dict(
            connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )


def test_the_filter_indexes_are_in_place(database_url: str) -> None:
    indexes = _indexes(database_url)
    assert "error_count > 0" in indexes["traces_service_errors"]
    assert "(project_id, service_name, start_ns DESC, trace_id)" in indexes["traces_service_errors"]
    assert "(project_id, test_run_id, trace_id)" in indexes["spans_test_run_trace"]
    assert "spans_test_run" not in indexes  # replaced by the covering one
    assert "(project_id, name, value) INCLUDE (trace_id, result_id)" in indexes["scores_name_ids"]
    assert "scores_name" not in indexes  # replaced by the covering one
    assert head_revision() == "0010_score_filter_index"


def test_the_planner_uses_them(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute("SET LOCAL enable_seqscan = off")  # the tables are tiny here
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                "EXPLAIN SELECT trace_id FROM traces WHERE project_id = 1 "
                "AND service_name = 'billing' AND error_count > 0 "
                "ORDER BY start_ns DESC, trace_id LIMIT 50"
            )
        )
        assert "traces_service_errors" in plan
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                "EXPLAIN SELECT DISTINCT trace_id FROM spans WHERE project_id = 1 "
                "AND test_run_id = 'run-42'"
            )
        )
        assert "spans_test_run_trace" in plan
        # On a tiny table the primary key can cost as little as any index; what the score
        # filter's index is for is answering the filter from the index alone.
        connection.execute("SET LOCAL enable_indexscan = off")
        connection.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                "EXPLAIN SELECT trace_id, result_id FROM scores WHERE project_id = 1 "
                "AND name = 'helpfulness' AND value >= 0.9"
            )
        )
        assert "Index Only Scan using scores_name_ids" in plan
