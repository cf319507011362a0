"""Linking in both orders, across two services, by strategy, and by the orphan sweep."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from spanlink.receiver.ingest import prepare_batch, write_batch
from spanlink.receiver.server import start_in_thread
from spanlink.receiver.settings import Settings


def _spans(database_url: str, project_id: int, run_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT name, service_name, test_result_id, trace_id FROM spans "
            "WHERE project_id = %s AND (test_run_id = %s OR trace_id IN "
            "(SELECT trace_id FROM test_results WHERE run_id = %s)) ORDER BY name",
            (project_id, run_id, run_id),
        ).fetchall()


def _one_case(
    http: httpx.Client, run_waiter: Any, function: str, case_id: str, question: str = "q"
) -> tuple[str, dict[str, Any]]:
    """Run ``function`` on one case: (the run's id, the case's result once the run finished)."""
    created = http.post(
        "/api/v1/test-runs",
        json={"function": function, "cases": [{"id": case_id, "inputs": {"question": question}}]},
    ).json()
    [result] = run_waiter(http, created["id"])["results"]
    return created["id"], result


def test_spans_after_the_result_are_linked_at_ingest(
    shared: Any,
    run_waiter: Any,
    database_url: str,
) -> None:
    client, project = shared.client, shared.project
    cases = [{"id": f"c{n}", "inputs": {"question": "x", "delay": 2.0}} for n in range(3)]
    created = client.post("/api/v1/test-runs", json={"function": "late", "cases": cases}).json()
    run = run_waiter(client, created["id"])
    assert run["status"] == "completed"
    # Results first: the late spans are not there yet.
    assert all(r["span_count"] == 1 for r in run["results"]), [
        (r["span_count"], r["traces"]) for r in run["results"]
    ]
    # Then each case's 3 run+case spans and 1 same-trace span arrive and are linked.
    run = run_waiter(
        client, created["id"], lambda run: all(r["span_count"] == 5 for r in run["results"])
    )
    by_case = {r["case_id"]: r["id"] for r in run["results"]}
    rows = _spans(database_url, project.id, created["id"])
    assert len(rows) == 15
    assert all(row[2] is not None for row in rows), rows
    for result in run["results"]:
        assert result["trace_id"] in result["trace_ids"]
    assert set(by_case.values()) == {row[2] for row in rows}


def test_downstream_service_spans_are_linked_through_baggage(
    shared: Any,
    run_waiter: Any,
    database_url: str,
) -> None:
    client, project = shared.client, shared.project
    run_id, result = _one_case(client, run_waiter, "downstream", "d1", question="hi")
    assert result["status"] == "passed", result
    assert result["output"] == "hi: downstream-ok"
    rows = _spans(database_url, project.id, run_id)
    services = {row[1] for row in rows}
    with psycopg.connect(database_url) as connection:
        every = connection.execute(
            "SELECT name, service_name, trace_id, attributes FROM spans WHERE project_id = %s",
            (project.id,),
        ).fetchall()
    assert services == {"endpoint-app", "downstream"}, every
    assert services == {"endpoint-app", "downstream"}
    assert {row[0] for row in rows if row[1] == "downstream"} == {
        "downstream handle",
        "downstream lookup",
    }
    assert all(row[2] == result["id"] for row in rows), rows


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _request(trace_id: bytes, attributes: dict[str, str], count: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = ResourceSpans()
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for _ in range(count):
        span = Span(
            trace_id=trace_id,
            span_id=os.urandom(8),
            name="op",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
        )
        span.attributes.extend(_kv(k, v) for k, v in attributes.items())
        scope.spans.append(span)
    request.resource_spans.append(resource_spans)
    return request


def test_trace_id_strategy_links_only_the_reported_trace(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    with (
        start_in_thread(Settings(database_url=database_url, linking_strategy="trace_id")) as other,
        httpx.Client(
            base_url=other.url, headers={"Authorization": f"Bearer {project.api_key}"}
        ) as http,
    ):
        assert other.server.config.app.state.testruns.strategy.name == "trace_id"
        endpoint_app(other.url, project.api_key)
        run_id, result = _one_case(http, run_waiter, "late", "t1")
        # The root span (carrying the result id) and the late same-trace span are linked;
        # the three spans carrying only run + case ids are not, under this strategy.
        run_waiter(http, run_id, lambda run: run["results"][0]["span_count"] == 2)
        time.sleep(1.0)
        rows = _spans(database_url, project.id, run_id)
        linked = [row for row in rows if row[2] == result["id"]]
        unlinked = [row for row in rows if row[2] is None]
        assert {row[0] for row in linked} == {"late", "late by trace"}
        assert len(unlinked) == 3
        assert all(row[3] == result["trace_id"] for row in linked)


def test_orphan_sweep_links_spans_missed_at_ingest(
    database_url: str, project: Any, endpoint_app: Any, run_waiter: Any
) -> None:
    with start_in_thread(Settings(database_url=database_url, linking_grace_s=0)) as other:
        http = httpx.Client(
            base_url=other.url, headers={"Authorization": f"Bearer {project.api_key}"}
        )
        endpoint_app(other.url, project.api_key)
        run_id, result = _one_case(http, run_waiter, "answer", "s1")
        # Spans stored without the ingest listener (as when its queue overflowed): unlinked.
        attributes = {"spanlink.test.run_id": run_id, "spanlink.test.case_id": "s1"}
        batch = prepare_batch(project.id, _request(os.urandom(16), attributes, 4))
        other_engine = other.server.config.app.state.engine
        write_batch(other_engine, project.id, batch.rows)
        assert sum(1 for row in _spans(database_url, project.id, run_id) if not row[2]) == 4
        service = other.server.config.app.state.testruns
        future = __import__("asyncio").run_coroutine_threadsafe(service.sweep_once(), service._loop)
        assert future.result(10) >= 4
        rows = _spans(database_url, project.id, run_id)
        assert all(row[2] == result["id"] for row in rows)
        assert len(rows) == 24
        # Idempotent: a second sweep links nothing more and moves nothing.
        again = __import__("asyncio").run_coroutine_threadsafe(service.sweep_once(), service._loop)
        assert again.result(10) == 0
        http.close()


def test_sweep_closes_cases_and_runs_abandoned_by_a_receiver_that_went_away(
    receiver: Any, project: Any, client: httpx.Client, database_url: str
) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO test_runs (project_id, id, status, metadata, started_at) VALUES "
            "(%s, 'abandoned-run', 'running', '{\"timeout_s\": 1}', now() - interval '5 minutes')",
            (project.id,),
        )
        connection.execute(
            "INSERT INTO test_results (project_id, id, run_id, case_id, status, started_at) "
            "VALUES (%s, 'abandoned-1', 'abandoned-run', 'a', 'running', "
            "now() - interval '2 minutes'), (%s, 'recent-1', 'abandoned-run', 'b', 'running', "
            "now())",
            (project.id, project.id),
        )
        connection.execute(
            "INSERT INTO endpoint_connections (id, project_id, receiver_id, last_seen) VALUES "
            "('crashed-conn', %s, 'crashed-receiver', now() - interval '1 hour')",
            (project.id,),
        )
    service = receiver.server.config.app.state.testruns
    sweep = __import__("asyncio").run_coroutine_threadsafe(service.sweep_once(), service._loop)
    sweep.result(10)
    with psycopg.connect(database_url) as connection:
        rows = dict(
            connection.execute(
                "SELECT id, status FROM test_results WHERE run_id = 'abandoned-run'"
            ).fetchall()
        )
        assert rows == {"abandoned-1": "timeout", "recent-1": "running"}
        assert connection.execute(
            "SELECT count(*) FROM endpoint_connections WHERE id = 'crashed-conn'"
        ).fetchone() == (0,)
        run_status = connection.execute(
            "SELECT status FROM test_runs WHERE id = 'abandoned-run'"
        ).fetchone()
        assert run_status == ("running",)  # a case is still open
        connection.execute("UPDATE test_results SET status = 'passed' WHERE id = 'recent-1'")
    service_sweep = __import__("asyncio").run_coroutine_threadsafe(
        service.sweep_once(), service._loop
    )
    service_sweep.result(10)
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT status FROM test_runs WHERE id = 'abandoned-run'"
        ).fetchone() == ("completed",)
