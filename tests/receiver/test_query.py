"""The query API: every list filter, pagination totals, full-text search, metrics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.ingest import prepare_batch, write_batch
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine

MS = 1_000_000


def _iso(ns: int) -> str:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (epoch + timedelta(microseconds=ns // 1000)).isoformat()


@pytest.fixture
def corpus(client: httpx.Client) -> dict[str, str]:
    """Five traces with distinct environments, services, test ids, names, texts, durations."""
    traces: dict[str, str] = {}

    def add(key: str, offset_ms: int, duration_ms: int, resource: dict, root: dict, **kw) -> None:
        tid = trace_id()
        root_id = span_id()
        spans = [
            make_span(
                tid,
                root_id,
                name=kw.get("name", "handle"),
                start=NOW + offset_ms * MS,
                duration_ns=duration_ms * MS,
                attributes=root,
                error=kw.get("root_error"),
            ),
            make_span(
                tid,
                span_id(),
                parent=root_id,
                name=kw.get("child_name", "step"),
                start=NOW + offset_ms * MS + 1,
                attributes=kw.get("child_attributes", {}),
                error=kw.get("child_error"),
            ),
        ]
        assert post_proto(client, make_request(spans, resource=resource)).status_code == 200
        traces[key] = tid.hex()

    prod = {"service.name": "api", "deployment.environment.name": "prod"}
    add("a", 0, 10, prod, {"spanlink.input": "how do refunds work"}, name="chat")
    add(
        "b",
        1000,
        200,
        {"service.name": "worker", "deployment.environment": "staging"},
        {
            "spanlink.test.run_id": "run-1",
            "spanlink.test.case_id": "case-1",
            "spanlink.test.result_id": "res-1",
        },
        child_error="timeout talking to db",
    )
    add(
        "c",
        2000,
        50,
        prod,
        {"spanlink.output": "your order shipped yesterday"},
        child_name="lookup_order",
        child_attributes={"spanlink.test.result_id": "res-2", "spanlink.test.run_id": "run-1"},
    )
    add("d", 3000, 5, prod, {}, name="lookup_order", root_error="bad input")
    add("e", 4000, 1000, {"service.name": "api"}, {})
    return traces


def _ids(client: httpx.Client, **params: object) -> list[str]:
    response = client.get("/api/v1/traces", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] >= len(body["items"])
    return [row["trace_id"] for row in body["items"]]


def test_list_newest_first_with_summary(client: httpx.Client, corpus: dict[str, str]) -> None:
    assert _ids(client) == [corpus[k] for k in "edcba"]
    row = client.get("/api/v1/traces").json()["items"][3]  # trace "b"
    assert row["name"] == "handle" and row["span_count"] == 2 and row["error_count"] == 1
    assert row["duration_ms"] == pytest.approx(200.0)
    assert (row["service_name"], row["environment"]) == ("worker", "staging")
    assert (row["test_run_id"], row["test_case_id"], row["test_result_id"]) == (
        "run-1",
        "case-1",
        "res-1",
    )
    assert row["cost_usd"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"environment": "prod"}, "dca"),
        ({"environment": "staging"}, "b"),
        ({"service": "api"}, "edca"),
        ({"test_run_id": "run-1"}, "cb"),
        ({"test_case_id": "case-1"}, "b"),
        ({"test_result_id": "res-2"}, "c"),  # linked through a child span
        ({"test_result_id": "res-2", "root_only": True}, ""),
        ({"status": "error"}, "db"),
        ({"status": "ok"}, "eca"),
        ({"name": "lookup_order"}, "dc"),
        ({"name": "lookup_order", "root_only": True}, "d"),
        ({"q": "refunds"}, "a"),
        ({"q": "refund"}, "a"),  # stemmed
        ({"q": "order shipped"}, "c"),
        ({"q": "timeout"}, "b"),  # status message
        ({"q": '"shipped yesterday" -nothing'}, "c"),
        ({"q": "lookup_order", "root_only": True}, "d"),
        ({"min_duration_ms": 50}, "ecb"),
        ({"max_duration_ms": 50}, "dca"),
        ({"min_duration_ms": 20, "max_duration_ms": 300}, "cb"),
        ({"environment": "prod", "status": "error"}, "d"),
        ({"root_only": True}, "edcba"),
    ],
)
def test_filters(
    client: httpx.Client, corpus: dict[str, str], params: dict[str, object], expected: str
) -> None:
    assert _ids(client, **params) == [corpus[k] for k in expected]


def test_time_range(client: httpx.Client, corpus: dict[str, str]) -> None:
    start = _iso(NOW + 1000 * MS)
    end = _iso(NOW + 3001 * MS)
    assert _ids(client, start_time=start, end_time=end) == [corpus[k] for k in "dcb"]
    assert _ids(client, start_time=_iso(NOW + 10_000 * MS)) == []


def test_pagination_totals(client: httpx.Client, corpus: dict[str, str]) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get("/api/v1/traces", params={"limit": 2, "offset": offset}).json()
        assert page["total"] == 5 and page["limit"] == 2 and len(page["items"]) <= 2
        seen += [row["trace_id"] for row in page["items"]]
        offset = page["next_offset"]
    assert seen == [corpus[k] for k in "edcba"]
    filtered = client.get("/api/v1/traces", params={"limit": 1, "environment": "prod"}).json()
    assert filtered["total"] == 3 and filtered["next_offset"] == 1
    beyond = client.get("/api/v1/traces", params={"offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 5 and beyond["next_offset"] is None


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "weird"}, {"min_duration_ms": -1}],
)
def test_invalid_query_parameters_are_422(client: httpx.Client, params: dict) -> None:
    assert client.get("/api/v1/traces", params=params).status_code == 422


def test_nul_in_a_filter_is_400(client: httpx.Client) -> None:
    response = client.get("/api/v1/traces", params={"name": "a\x00b"})
    assert response.status_code == 400 and "NUL" in response.json()["message"]


def test_unknown_trace_is_404(client: httpx.Client) -> None:
    assert client.get(f"/api/v1/traces/{'0' * 31}1").status_code == 404
    assert client.get("/api/v1/traces/not-a-trace-id").status_code == 422


def test_trace_detail_has_test_links_and_enrichment(
    client: httpx.Client, database_url: str, project
) -> None:
    # Written without the HTTP path, so no enrichment pipeline races the row set here.
    tid, root = trace_id(), span_id()
    request = make_request(
        [
            make_span(tid, root, name="root"),
            make_span(
                tid,
                span_id(),
                parent=root,
                attributes={"spanlink.test.result_id": "res-2", "spanlink.test.run_id": "run-1"},
            ),
        ]
    )
    engine = create_app_engine(Settings(database_url=database_url))
    try:
        write_batch(engine, project.id, prepare_batch(project.id, request).rows)
    finally:
        engine.dispose()
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO trace_enrichments"
            " (project_id, trace_id, data, plugin_versions, span_count)"
            " VALUES (%s, %s, %s, %s, 2)",
            (
                project.id,
                tid.hex(),
                '{"trace": {"cost": {"total_cost": 0.25, "complete": true,'
                ' "cost_by_model": {"gpt-4o": 0.25}}}}',
                '{"cost": "1.0"}',
            ),
        )
    trace = client.get(f"/api/v1/traces/{tid.hex()}").json()
    assert trace["enrichment"]["data"]["trace"]["cost"]["total_cost"] == 0.25
    assert trace["enrichment"]["plugin_versions"] == {"cost": "1.0"}
    assert trace["test_links"] == [
        {"test_run_id": "run-1", "test_case_id": None, "test_result_id": "res-2", "span_count": 1}
    ]
    row = client.get("/api/v1/traces").json()["items"][0]
    assert row["trace_id"] == tid.hex() and row["cost_usd"] == 0.25
    metrics = client.get(
        "/api/v1/metrics",
        params={"start_time": _iso(NOW - 10**9), "end_time": _iso(NOW + 10 * 10**9)},
    ).json()
    assert metrics["cost_usd"] == 0.25
    assert metrics["models"] == [
        {
            "model": "gpt-4o",
            "span_count": 0,
            "error_count": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "latency_ms": {"p50": None, "p95": None, "p99": None},
            "cost_usd": 0.25,
        }
    ]


def test_metrics(client: httpx.Client, corpus: dict[str, str]) -> None:
    window = {"start_time": _iso(NOW - 10**9), "end_time": _iso(NOW + 10 * 10**9)}
    metrics = client.get("/api/v1/metrics", params=window).json()
    assert metrics["trace_count"] == 5 and metrics["span_count"] == 10
    assert metrics["error_trace_count"] == 2 and metrics["error_rate"] == pytest.approx(0.4)
    # trace durations 10, 200, 50, 5, 1000 ms
    assert metrics["latency_ms"]["p50"] == pytest.approx(50.0)
    assert metrics["latency_ms"]["p99"] == pytest.approx(968.0, rel=0.01)
    assert metrics["cost_usd"] is None
    empty = client.get("/api/v1/metrics", params={"end_time": _iso(NOW - 10**12)}).json()
    assert empty["trace_count"] == 0 and empty["error_rate"] == 0.0
    assert empty["latency_ms"] == {"p50": None, "p95": None, "p99": None}


def test_health(receiver) -> None:
    assert httpx.get(f"{receiver.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{receiver.url}/readyz").json() == {"status": "ok"}
