"""``GET /api/v1/traces/{id}``: the JSON assembled from Postgres-rendered spans is exact."""

from __future__ import annotations

import json

import httpx
import psycopg
from receiver_helpers import NOW, make_request, make_span, span_id, trace_id

from spanlink.receiver.ingest import prepare_batch, write_batch
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine, read_in_project

# The stored columns every span object carries and their keys in it; then what only the
# full span (``full=true``, ``GET .../spans/{id}``) adds.
_LEAN_COLUMNS = {
    "span_id": "span_id",
    "parent_span_id": "parent_span_id",
    "name": "name",
    "kind": "kind",
    "start_ns": "start_time_unix_nano",
    "end_ns": "end_time_unix_nano",
    "status_code": "status_code",
    "status_message": "status_message",
    "service_name": "service_name",
    "environment": "environment",
    "test_run_id": "test_run_id",
    "test_case_id": "test_case_id",
    "test_result_id": "test_result_id",
    "model": "model",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "attributes->>'gen_ai.operation.name'": "operation_name",
    "attributes->>'gen_ai.tool.name'": "tool_name",
}
_FULL_COLUMNS = {
    "trace_id": "trace_id",
    "attributes": "attributes",
    "events": "events",
    "links": "links",
    "resource": "resource",
    "scope_name": "scope_name",
    "scope_version": "scope_version",
}
_COLUMNS = {**_LEAN_COLUMNS, **_FULL_COLUMNS}


def _store(database_url: str, project_id: int, spans: list) -> None:
    # Written without the HTTP path, so no enrichment pipeline races the row set here.
    engine = create_app_engine(Settings(database_url=database_url))
    try:
        request = make_request(spans, resource={"service.name": 'svc "quoted"\n\u00e9'})
        write_batch(engine, project_id, prepare_batch(project_id, request).rows)
    finally:
        engine.dispose()


def test_span_objects_match_the_stored_rows(
    client: httpx.Client, database_url: str, project
) -> None:
    tid, root = trace_id(), span_id()
    child = span_id()
    odd = 'quote " backslash \\ newline \n tab \t nul-free \u2603 \U0001f600 </script>'
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.tool.name": odd,
    }
    _store(
        database_url,
        project.id,
        [
            make_span(tid, root, name=odd, start=NOW, error='went "wrong"\n'),
            make_span(
                tid,
                child,
                parent=root,
                start=NOW + 5,
                attributes={"text": odd, "n": 3, "f": 0.1, "flag": True, "list": [1, "a"], **llm},
                events=[("evt", NOW + 6, {"k": odd})],
                links=[(tid, root, {"why": odd})],
            ),
        ],
    )
    with psycopg.connect(database_url) as connection:
        columns = ", ".join(_COLUMNS)
        stored = {
            row[0]: dict(zip(_COLUMNS.values(), row, strict=True))
            for row in connection.execute(
                f"SELECT {columns} FROM spans WHERE project_id = %s AND trace_id = %s",
                (project.id, tid.hex()),
            ).fetchall()
        }
        durations = dict(
            connection.execute(
                "SELECT span_id, duration_ns FROM spans WHERE project_id = %s AND trace_id = %s",
                (project.id, tid.hex()),
            ).fetchall()
        )
    full_keys = set(_FULL_COLUMNS.values()) | {"enrichment"}
    for full in (False, True):
        response = client.get(f"/api/v1/traces/{tid.hex()}", params={"full": full})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        trace = response.json()
        assert [s["span_id"] for s in trace["spans"]] == [root.hex(), child.hex()]
        for span in trace["spans"]:
            expected = dict(stored[span["span_id"]])
            expected["duration_ms"] = durations[span["span_id"]] / 1e6
            expected["enrichment"] = None
            if not full:  # lean: no attributes, events, links, resource, scope
                expected = {k: v for k, v in expected.items() if k not in full_keys}
            expected["depth"] = 0 if span["span_id"] == root.hex() else 1
            expected["children"] = [child.hex()] if span["span_id"] == root.hex() else []
            assert span == expected
        assert trace["spans"][0]["name"] == odd
        lean_child = trace["spans"][1]
        assert (lean_child["model"], lean_child["operation_name"]) == ("gpt-4o", "chat")
        assert (lean_child["input_tokens"], lean_child["output_tokens"]) == (12, 3)
        assert lean_child["tool_name"] == odd
        # The body is one valid JSON document (no stray control characters).
        json.loads(response.content.decode("utf-8"))
    assert trace["spans"][1]["attributes"]["text"] == odd

    # One span in full: what ``full=true`` has of it, without its place in the tree.
    for sid in (root, child):
        response = client.get(f"/api/v1/traces/{tid.hex()}/spans/{sid.hex().upper()}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        expected = dict(stored[sid.hex()])
        expected["duration_ms"] = durations[sid.hex()] / 1e6
        expected["enrichment"] = None
        assert response.json() == expected


def test_a_missing_span_is_404_and_a_bad_id_422(client: httpx.Client, database_url: str, project):
    tid, root = trace_id(), span_id()
    _store(database_url, project.id, [make_span(tid, root, name="only")])
    missing = client.get(f"/api/v1/traces/{tid.hex()}/spans/{span_id().hex()}")
    assert missing.status_code == 404
    assert "not found" in missing.text
    other_trace = client.get(f"/api/v1/traces/{trace_id().hex()}/spans/{root.hex()}")
    assert other_trace.status_code == 404
    for bad in ("xyz", "0" * 15, "0" * 17, "g" * 16):
        assert client.get(f"/api/v1/traces/{tid.hex()}/spans/{bad}").status_code == 422
    assert client.get(f"/api/v1/traces/{tid.hex()}", params={"full": "maybe"}).status_code == 422


def test_test_links_group_and_order_like_postgres(
    client: httpx.Client, database_url: str, project
) -> None:
    tid, root = trace_id(), span_id()
    ids = [
        {"spanlink.test.run_id": "run-b", "spanlink.test.case_id": "case-1"},
        {"spanlink.test.run_id": "run-a"},
        {"spanlink.test.run_id": "run-a", "spanlink.test.result_id": "res-1"},
        {"spanlink.test.run_id": "run-b", "spanlink.test.case_id": "case-1"},
        {"spanlink.test.case_id": "case-0"},
        {},
        {"spanlink.test.run_id": "run-a"},
    ]
    spans = [make_span(tid, root, name="root", start=NOW)]
    spans += [
        make_span(tid, span_id(), parent=root, start=NOW + i + 1, attributes=attributes)
        for i, attributes in enumerate(ids)
    ]
    _store(database_url, project.id, spans)
    with psycopg.connect(database_url) as connection:
        # The reference: the same grouping done by Postgres.
        expected = [
            {"test_run_id": r, "test_case_id": c, "test_result_id": t, "span_count": n}
            for r, c, t, n in connection.execute(
                "SELECT test_run_id, test_case_id, test_result_id, count(*) FROM spans"
                " WHERE project_id = %s AND trace_id = %s AND (test_run_id IS NOT NULL"
                " OR test_case_id IS NOT NULL OR test_result_id IS NOT NULL)"
                " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                (project.id, tid.hex()),
            ).fetchall()
        ]
    trace = client.get(f"/api/v1/traces/{tid.hex()}").json()
    assert len(expected) == 4
    assert trace["test_links"] == expected
    assert trace["span_count"] == 8 and trace["root_span_ids"] == [root.hex()]


def test_the_compact_answer_has_the_lean_spans_as_rows_in_start_order(
    client: httpx.Client, database_url: str, project
) -> None:
    tid, root, child, orphan = trace_id(), span_id(), span_id(), span_id()
    odd = 'quote " backslash \\ newline \n \u2603 \U0001f600 </script>'
    loop_a, loop_b = span_id(), span_id()
    tools = {"gen_ai.tool.name": odd, "spanlink.test.run_id": "run-b"}
    _store(
        database_url,
        project.id,
        [
            make_span(tid, root, name=odd, start=NOW, error="failed"),
            make_span(tid, child, parent=root, start=NOW + 5, attributes=tools),
            # Same start as the child: ordered by span id, as the tree order breaks ties.
            make_span(tid, span_id(), parent=root, start=NOW + 5, duration_ns=1_234_567),
            make_span(tid, orphan, parent=span_id(), name="late", start=NOW + 20),
            # Only reachable through a parent cycle.
            make_span(tid, loop_a, parent=loop_b, start=NOW + 30),
            make_span(tid, loop_b, parent=loop_a, start=NOW + 31),
        ],
    )
    lean = client.get(f"/api/v1/traces/{tid.hex()}").json()
    response = client.get(f"/api/v1/traces/{tid.hex()}", params={"compact": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    compact = response.json()
    fields = compact.pop("span_fields")
    rows = compact.pop("spans")
    spans = [dict(zip(fields, row, strict=True)) for row in rows]
    expected_spans = [
        {k: v for k, v in span.items() if k not in ("depth", "children")}
        for span in lean.pop("spans")
    ]
    assert spans == sorted(expected_spans, key=lambda s: (s["start_time_unix_nano"], s["span_id"]))
    del lean["root_span_ids"]
    assert compact == lean
    assert compact["error_count"] == 1 and compact["span_count"] == 6
    assert compact["test_links"] == [
        {"test_run_id": "run-b", "test_case_id": None, "test_result_id": None, "span_count": 1}
    ]

    missing = client.get(f"/api/v1/traces/{trace_id().hex()}", params={"compact": "true"})
    assert missing.status_code == 404
    both = client.get(f"/api/v1/traces/{tid.hex()}", params={"compact": "true", "full": "true"})
    assert both.status_code == 422


def test_an_answer_is_read_in_one_snapshot(database_url: str, project) -> None:
    """An answer's statements (spans, then enrichment) share one snapshot: they run in one
    read-only, repeatable-read transaction, so an enrichment committed between two of them
    is never half visible; the transaction is bound to the project."""
    engine = create_app_engine(Settings(database_url=database_url))
    try:
        ((settings,), (snapshot,)) = read_in_project(
            engine,
            project.id,
            [
                (
                    "SELECT current_setting('transaction_isolation'),"
                    " current_setting('transaction_read_only'),"
                    " current_setting('spanlink.project_id')",
                    {},
                ),
                ("SELECT count(*) FROM spans", {}),
            ],
        )
    finally:
        engine.dispose()
    assert settings == ("repeatable read", "on", str(project.id))
    assert snapshot == (0,)  # a new project: row-level security shows none of the others
