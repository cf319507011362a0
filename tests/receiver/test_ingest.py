"""Ingest round trips: protobuf and OTLP JSON, encodings, idempotency, normalization."""

from __future__ import annotations

import json

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from receiver_helpers import (
    NOW,
    count_rows,
    make_request,
    make_span,
    post_proto,
    span_id,
    to_json,
    trace_id,
)

EVERY_TYPE = {
    "s": "text ünïcode",
    "i": -(2**62),
    "f": 3.25,
    "b": True,
    "list": ["a", 1, 2.5, False],
    "map": {"k": "v", "n": 1, "nested": {"x": [1, 2]}},
    "bytes": b"\x00\x01\xff",
}
EXPECTED_ATTRIBUTES = {**EVERY_TYPE, "bytes": "AAH/"}  # bytes come back base64 (OTLP JSON)


def _full_request() -> tuple[bytes, bytes, bytes, object]:
    tid, root, child = trace_id(), span_id(), span_id()
    linked_tid, linked_sid = trace_id(), span_id()
    spans = [
        make_span(
            tid,
            root,
            name="root op",
            kind=Span.SPAN_KIND_SERVER,
            duration_ns=5_000_000,
            attributes=EVERY_TYPE,
            events=[("exception", NOW + 10, {"exception.type": "ValueError", "n": 2})],
            links=[(linked_tid, linked_sid, {"why": "batch"})],
        ),
        make_span(tid, child, parent=root, name="child", start=NOW + 100, error="boom", kind=3),
    ]
    request = make_request(spans, resource={"service.name": "svc-a", "host.cpus": 2})
    return tid, root, child, (request, linked_tid, linked_sid)


def _check_trace(
    client: httpx.Client, tid: bytes, root: bytes, child: bytes, linked: tuple
) -> None:
    response = client.get(f"/api/v1/traces/{tid.hex()}", params={"full": "true"})
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["span_count"] == 2 and trace["error_count"] == 1
    assert trace["root_span_ids"] == [root.hex()]
    first, second = trace["spans"]
    assert (first["span_id"], first["depth"], first["children"]) == (root.hex(), 0, [child.hex()])
    assert first["name"] == "root op" and first["kind"] == "SERVER"
    assert first["start_time_unix_nano"] == NOW
    assert first["end_time_unix_nano"] == NOW + 5_000_000
    assert first["duration_ms"] == pytest.approx(5.0)
    for key, value in EXPECTED_ATTRIBUTES.items():
        assert first["attributes"][key] == value
    assert first["events"] == [
        {
            "name": "exception",
            "time_unix_nano": NOW + 10,
            "attributes": {"exception.type": "ValueError", "n": 2},
        }
    ]
    assert first["links"] == [
        {"trace_id": linked[0].hex(), "span_id": linked[1].hex(), "attributes": {"why": "batch"}}
    ]
    assert first["resource"] == {"service.name": "svc-a", "host.cpus": 2}
    assert first["scope_name"] == "tests" and first["scope_version"] == "1.0"
    assert first["service_name"] == "svc-a"
    assert second["parent_span_id"] == root.hex() and second["depth"] == 1
    assert second["status_code"] == "ERROR" and second["status_message"] == "boom"
    assert second["kind"] == "CLIENT"
    # Enrichment runs on its own shortly after ingest; tests/enrichment covers it.
    assert "enrichment" in trace


@pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
def test_protobuf_round_trip(client: httpx.Client, encoding: str | None) -> None:
    tid, root, child, (request, *linked) = _full_request()
    response = post_proto(client, request, encoding=encoding)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    _check_trace(client, tid, root, child, tuple(linked))


@pytest.mark.parametrize("hex_ids", [True, False], ids=["hex-ids", "base64-ids"])
def test_json_round_trip(client: httpx.Client, hex_ids: bool) -> None:
    tid, root, child, (request, *linked) = _full_request()
    document = to_json(request, hex_ids=hex_ids)
    if hex_ids:
        span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert span["traceId"] == tid.hex()  # really the OTLP JSON form
        document["someFutureField"] = {"ignored": True}  # unknown fields are ignored
    response = client.post("/v1/traces", json=document)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    _check_trace(client, tid, root, child, tuple(linked))


def test_json_gzip_on_the_alias_path(client: httpx.Client) -> None:
    import gzip

    tid, root, child, (request, *linked) = _full_request()
    body = gzip.compress(json.dumps(to_json(request)).encode())
    response = client.post(
        "/telemetry/traces",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    _check_trace(client, tid, root, child, tuple(linked))


def test_resent_batch_adds_nothing(client: httpx.Client, database_url: str, project) -> None:
    tid = trace_id()
    spans = [
        make_span(tid, span_id(), name=f"s{i}", attributes={"input_tokens": i}) for i in range(20)
    ]
    request = make_request(spans)
    for _ in range(3):
        assert post_proto(client, request, encoding="gzip").status_code == 200
    # Overlapping batch: 10 old spans, 5 new ones.
    more = make_request(spans[:10] + [make_span(tid, span_id()) for _ in range(5)])
    assert post_proto(client, more).status_code == 200
    assert count_rows(database_url, project.id) == 25
    listing = client.get("/api/v1/traces").json()
    assert listing["total"] == 1 and listing["items"][0]["span_count"] == 25


def test_duplicate_span_inside_one_batch_is_stored_once(
    client: httpx.Client, database_url: str, project
) -> None:
    tid, sid = trace_id(), span_id()
    request = make_request([make_span(tid, sid), make_span(tid, sid)])
    assert post_proto(client, request).status_code == 200
    assert count_rows(database_url, project.id) == 1
    assert client.get("/api/v1/traces").json()["items"][0]["span_count"] == 1


def test_other_conventions_are_normalized_and_raw_kept(client: httpx.Client) -> None:
    tid, sid = trace_id(), span_id()
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 120,
        "llm.token_count.completion": 30,
    }
    request = make_request([make_span(tid, sid, name="ChatCompletion", attributes=attributes)])
    assert post_proto(client, request).status_code == 200
    span = client.get(f"/api/v1/traces/{tid.hex()}", params={"full": "true"}).json()["spans"][0]
    for key, value in attributes.items():  # raw attributes kept
        assert span["attributes"][key] == value
    assert span["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert span["attributes"]["gen_ai.usage.input_tokens"] == 120
    assert span["attributes"]["gen_ai.usage.output_tokens"] == 30
    row = client.get("/api/v1/traces").json()["items"][0]
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (120, 30, 150)
    metrics = client.get("/api/v1/metrics").json()
    assert metrics["models"][0]["model"] == "gpt-4o-mini"
    assert metrics["models"][0]["input_tokens"] == 120


def test_orphans_are_roots_and_children_ordered_by_start(client: httpx.Client) -> None:
    tid, root, missing = trace_id(), span_id(), span_id()
    late, early, orphan = span_id(), span_id(), span_id()
    request = make_request(
        [
            make_span(tid, late, parent=root, name="late", start=NOW + 300),
            make_span(tid, root, name="root", start=NOW, duration_ns=10_000),
            make_span(tid, orphan, parent=missing, name="orphan", start=NOW + 50),
            make_span(tid, early, parent=root, name="early", start=NOW + 100),
        ]
    )
    assert post_proto(client, request).status_code == 200
    trace = client.get(f"/api/v1/traces/{tid.hex()}").json()
    assert [(s["name"], s["depth"]) for s in trace["spans"]] == [
        ("root", 0),
        ("early", 1),
        ("late", 1),
        ("orphan", 0),
    ]
    assert trace["root_span_ids"] == [root.hex(), orphan.hex()]
    assert trace["spans"][3]["parent_span_id"] == missing.hex()  # the link is kept


def test_spans_arriving_later_extend_the_trace(client: httpx.Client) -> None:
    tid, root, child = trace_id(), span_id(), span_id()
    child_req = make_request([make_span(tid, child, parent=root, name="child", start=NOW + 10)])
    assert post_proto(client, child_req).status_code == 200
    row = client.get("/api/v1/traces").json()["items"][0]
    assert row["name"] == "child"  # no root yet: the earliest span names the trace
    root_req = make_request([make_span(tid, root, name="root", duration_ns=10**9)])
    assert post_proto(client, root_req).status_code == 200
    row = client.get("/api/v1/traces").json()["items"][0]
    assert (row["name"], row["span_count"]) == ("root", 2)
    assert row["duration_ms"] == pytest.approx(1000.0)
