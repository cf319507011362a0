"""Every ingest error: a clear status and reason, and nothing stored or half-stored."""

from __future__ import annotations

import gzip
import json
import resource
import threading
import zlib
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
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

from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings


def _one_span_request() -> bytes:
    return make_request([make_span(trace_id(), span_id())]).SerializeToString()


@pytest.mark.parametrize("path", ["/v1/traces", "/api/v1/traces", "/api/v1/metrics"])
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer slk_not-a-key", "Basic abc"])
def test_401_without_a_valid_key(receiver: RunningReceiver, path: str, header: str | None) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    if header is not None:
        headers["Authorization"] = header
    if path == "/v1/traces":
        response = httpx.post(receiver.url + path, content=_one_span_request(), headers=headers)
    else:
        response = httpx.get(receiver.url + path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "key" in response.json()["message"]


def test_401_for_a_trace_with_a_bad_key(receiver: RunningReceiver) -> None:
    response = httpx.get(f"{receiver.url}/api/v1/traces/{'ab' * 16}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Content-Type": "text/plain"}, "Content-Type"),
        ({}, "Content-Type"),
        ({"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, "Content-Encoding"),
    ],
)
def test_415_unsupported_media(
    client: httpx.Client, database_url: str, project, headers: dict[str, str], reason: str
) -> None:
    response = client.post("/v1/traces", content=_one_span_request(), headers=headers)
    assert response.status_code == 415
    assert reason in response.json()["message"]
    assert count_rows(database_url, project.id) == 0


@pytest.mark.parametrize(
    ("content_type", "body", "encoding", "reason"),
    [
        ("application/x-protobuf", b"\xff\xff\xff\xff garbage", None, "not an OTLP protobuf"),
        ("application/x-protobuf", b"not gzip at all", "gzip", "not valid gzip"),
        ("application/x-protobuf", gzip.compress(b"x" * 100, mtime=0)[:-9], "gzip", "gzip"),
        ("application/x-protobuf", b"\x00\x01\x02", "deflate", "not valid deflate"),
        ("application/json", b"{not json", None, "not valid JSON"),
        ("application/json", b"[1, 2]", None, "JSON object"),
        ("application/json", b'{"resourceSpans": "nope"}', None, "not an OTLP JSON"),
        (
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            None,
            "trace id must be 16 bytes",
        ),
    ],
)
def test_400_undecodable_bodies(
    client: httpx.Client,
    database_url: str,
    project,
    content_type: str,
    body: bytes,
    encoding: str | None,
    reason: str,
) -> None:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert reason in response.json()["message"]
    assert count_rows(database_url, project.id) == 0


@pytest.mark.parametrize(
    ("span", "reason"),
    [
        (make_span(b"\x01" * 15, span_id()), "trace id must be 16 bytes"),
        (make_span(b"\x00" * 16, span_id()), "not all zero"),
        (make_span(trace_id(), b"\x01" * 9), "span id must be 8 bytes"),
        (make_span(trace_id(), span_id(), parent=b"\x01\x02"), "parent span id"),
        (make_span(trace_id(), span_id(), start=0), "start time is missing"),
        (make_span(trace_id(), span_id(), duration_ns=-5), "end time is before start time"),
    ],
)
def test_400_when_every_span_is_invalid(
    client: httpx.Client, database_url: str, project, span, reason: str
) -> None:
    good = make_span(trace_id(), span_id())
    response = post_proto(client, make_request([span, span]))
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert "2 span(s) rejected" in response.json()["message"]
    assert count_rows(database_url, project.id) == 0
    assert count_rows(database_url, project.id, "traces") == 0
    del good


def test_invalid_hex_id_in_json_is_rejected_with_reason(client: httpx.Client, project) -> None:
    document = to_json(make_request([make_span(trace_id(), span_id())]))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = "0123456789abcdef0123456789abcdeg"  # 32 chars, one not hex
    response = client.post("/v1/traces", json=document)
    assert response.status_code == 400
    assert "traceId" in response.json()["message"] or "trace" in response.json()["message"]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_partial_success_names_what_was_rejected(
    client: httpx.Client, database_url: str, project, encoding: str
) -> None:
    good = [make_span(trace_id(), span_id(), name=f"ok{i}") for i in range(3)]
    bad = make_span(trace_id(), span_id(), start=NOW, duration_ns=-1)
    request = make_request([good[0], bad, *good[1:]])
    if encoding == "protobuf":
        response = post_proto(client, request)
        assert response.status_code == 200
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        rejected, message = partial.rejected_spans, partial.error_message
    else:
        response = client.post("/v1/traces", json=to_json(request))
        assert response.status_code == 200
        partial_json = response.json()["partialSuccess"]
        rejected, message = int(partial_json["rejectedSpans"]), partial_json["errorMessage"]
    assert rejected == 1
    assert "span #1: end time is before start time" in message
    assert count_rows(database_url, project.id) == 3


@pytest.fixture(scope="module")
def small_receiver(database_url: str) -> Iterator[RunningReceiver]:
    settings = Settings(
        database_url=database_url,
        max_body_bytes=2 * 1024 * 1024,
        max_decompressed_bytes=1024 * 1024,
        max_concurrent_ingest=1,
        ingest_queue_timeout=0.3,
        retry_after_seconds=7,
    )
    running = start_in_thread(settings)
    yield running
    running.stop()


def _small_client(small_receiver: RunningReceiver, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=small_receiver.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def test_413_body_over_the_limit(
    small_receiver: RunningReceiver, api_key: str, database_url: str, project
) -> None:
    big = make_request(
        [make_span(trace_id(), span_id(), attributes={"blob": "x" * 3_000_000})]
    ).SerializeToString()
    with _small_client(small_receiver, api_key) as client:
        response = post_proto(client, big)
        assert response.status_code == 413
        assert "limit" in response.json()["message"]
        # Without Content-Length (chunked upload) the limit holds while streaming.
        streamed = client.post(
            "/v1/traces",
            content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert streamed.status_code == 413
    assert count_rows(database_url, project.id) == 0


def test_413_decompressed_over_the_limit(
    small_receiver: RunningReceiver, api_key: str, database_url: str, project
) -> None:
    # Compresses to ~40 KB, inflates to 1.5 MB: within the wire limit, over the inflated one.
    body = make_request(
        [make_span(trace_id(), span_id(), attributes={"blob": "y" * 1_500_000})]
    ).SerializeToString()
    with _small_client(small_receiver, api_key) as client:
        response = post_proto(client, body, encoding="gzip")
    assert response.status_code == 413
    assert "decompressed" in response.json()["message"]
    assert count_rows(database_url, project.id) == 0


def test_gzip_bomb_is_refused_without_exhausting_memory(
    small_receiver: RunningReceiver, api_key: str
) -> None:
    # 1024 gzip members of 1 MiB of zeros each: ~1 MB on the wire, 1 GiB inflated.
    member = gzip.compress(bytes(1024 * 1024), 9)
    bombs = {"gzip": member * 1024, "deflate": zlib.compress(bytes(256 * 1024 * 1024), 1)}
    assert all(len(bomb) < 2 * 1024 * 1024 for bomb in bombs.values())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, this process's peak
    with _small_client(small_receiver, api_key) as client:
        for encoding, bomb in bombs.items():
            response = post_proto(client, bomb, encoding=encoding, precompressed=True)
            assert response.status_code == 413, response.text
            assert "decompressed" in response.json()["message"]
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"


def test_multi_member_gzip_is_read_whole(client: httpx.Client) -> None:
    first, second = make_span(trace_id(), span_id()), make_span(trace_id(), span_id())
    body = make_request([first]).SerializeToString() + make_request([second]).SerializeToString()
    split = len(make_request([first]).SerializeToString())
    # Two gzip members; protobuf concatenation merges the two requests into one.
    payload = gzip.compress(body[:split]) + gzip.compress(body[split:])
    response = post_proto(client, payload, encoding="gzip", precompressed=True)
    assert response.status_code == 200
    assert client.get("/api/v1/traces").json()["total"] == 2


def test_503_with_retry_after_when_the_ingest_queue_is_full(
    small_receiver: RunningReceiver, api_key: str, database_url: str, project
) -> None:
    first_result: list[httpx.Response] = []
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE spans IN SHARE MODE")  # holds writers until commit

        def first() -> None:
            with _small_client(small_receiver, api_key) as client:
                first_result.append(post_proto(client, _one_span_request()))

        thread = threading.Thread(target=first)
        thread.start()
        try:
            with _small_client(small_receiver, api_key) as client:
                # Wait until the first request holds the only ingest slot (it is blocked in
                # the database), then the second one must be turned away.
                for _ in range(100):
                    waiting = blocker.execute(
                        "SELECT count(*) FROM pg_locks WHERE relation = 'spans'::regclass "
                        "AND NOT granted"
                    ).fetchone()
                    if waiting and waiting[0]:
                        break
                    threading.Event().wait(0.05)
                second = post_proto(client, _one_span_request())
            assert second.status_code == 503
            assert second.headers["retry-after"] == "7"
            assert "queue is full" in second.json()["message"]
        finally:
            blocker.commit()
            thread.join(30)
    assert first_result[0].status_code == 200
    assert count_rows(database_url, project.id) == 1


def test_json_errors_are_json(client: httpx.Client) -> None:
    response = client.post(
        "/v1/traces",
        content=json.dumps({"resourceSpans": 5}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"code", "message"}
