"""Values no column can hold as sent: over-long indexed text and numbers past int64.

Each is stored bounded (the full value stays in the attributes or the resource), never
makes a batch fail, and never poisons the later batches of its trace.
"""

from __future__ import annotations

import random

import httpx
import psycopg
import pytest
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.storage import MAX_INDEXED_BYTES, bound_indexed
from spanlink.tracer.support import INT64_MAX

_RANDOM = random.Random(11)
# Random text does not compress, so Postgres cannot squeeze it under the index limit.
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ASCII = "".join(_RANDOM.choices(_ALPHABET, k=3000))
_WIDE = "".join(chr(_RANDOM.randrange(0x4E00, 0x9FFF)) for _ in range(1500))  # 3 bytes each
_ASTRAL = "".join(chr(_RANDOM.randrange(0x1F300, 0x1F5FF)) for _ in range(800))  # 4 bytes
LONG_VALUES = {"ascii": _ASCII, "cjk": _WIDE, "emoji": _ASTRAL}


def _rows(database_url: str, sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql, params).fetchall()


def _nbytes(text: str | None) -> int:
    return len(text.encode()) if text is not None else 0


@pytest.mark.parametrize("kind", sorted(LONG_VALUES))
@pytest.mark.parametrize(
    "where",
    [
        "name",
        "service.name",
        "deployment.environment.name",
        "spanlink.test.run_id",
        "spanlink.test.case_id",
        "spanlink.test.result_id",
        "gen_ai.request.model",
    ],
)
def test_an_over_long_value_is_bounded_and_the_whole_batch_stored(
    client: httpx.Client, database_url: str, project, where: str, kind: str
) -> None:
    long = LONG_VALUES[kind]
    tid = trace_id()
    resource = {"service.name": "svc"}
    attributes: dict[str, object] = {}
    name = "op"
    if where == "name":
        name = long
    elif where in ("service.name", "deployment.environment.name"):
        resource[where] = long
    else:
        attributes[where] = long
    spans = [make_span(tid, span_id(), name=f"s{i}") for i in range(511)]
    spans.insert(200, make_span(tid, span_id(), name=name, attributes=attributes))
    response = post_proto(client, make_request(spans, resource=resource))
    assert response.status_code == 200, response.text

    rows = _rows(
        database_url,
        "SELECT name, service_name, environment, test_run_id, test_case_id, test_result_id, "
        "model, attributes, resource FROM spans WHERE project_id = %s",
        project.id,
    )
    assert len(rows) == 512
    for row in rows:
        assert all(_nbytes(value) <= MAX_INDEXED_BYTES for value in row[:7])
    (long_row,) = [row for row in rows if row[0] not in {f"s{i}" for i in range(511)}]
    column = {
        "name": 0,
        "service.name": 1,
        "deployment.environment.name": 2,
        "spanlink.test.run_id": 3,
        "spanlink.test.case_id": 4,
        "spanlink.test.result_id": 5,
        "gen_ai.request.model": 6,
    }[where]
    assert long_row[column] == bound_indexed(long)
    assert long_row[column].startswith(long[:100])
    # The full value is kept.
    if where == "name":
        assert long_row[7]["spanlink.span.name"] == long
    elif where in ("service.name", "deployment.environment.name"):
        assert long_row[8][where] == long
    else:
        assert long_row[7][where] == long
    (trace,) = _rows(
        database_url,
        "SELECT span_count, root_name, service_name, environment, test_run_id FROM traces "
        "WHERE project_id = %s",
        project.id,
    )
    assert trace[0] == 512
    assert all(_nbytes(value) <= MAX_INDEXED_BYTES for value in trace[1:])


def test_long_values_sharing_a_prefix_stay_distinct_and_are_found_by_their_full_value(
    client: httpx.Client, project
) -> None:
    first, second = _ASCII + "-first", _ASCII + "-second"
    assert bound_indexed(first) != bound_indexed(second)
    assert bound_indexed(first) == bound_indexed(first)
    for run_id in (first, second):
        span = make_span(trace_id(), span_id(), attributes={"spanlink.test.run_id": run_id})
        assert post_proto(client, make_request([span])).status_code == 200
    listing = client.get("/api/v1/traces", params={"test_run_id": first})
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 1
    assert listing.json()["items"][0]["test_run_id"] == bound_indexed(first)


def test_a_long_service_name_filter_finds_its_traces(client: httpx.Client, project) -> None:
    span = make_span(trace_id(), span_id())
    request = make_request([span], resource={"service.name": _WIDE})
    assert post_proto(client, request).status_code == 200
    listing = client.get("/api/v1/traces", params={"service": _WIDE})
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 1


# -- numbers past int64 ---------------------------------------------------------------

_HUGE = 6_900_000_000_000_000_000  # two of these overflow a bigint sum


def _tokens(database_url: str, project_id: int) -> list[tuple]:
    return _rows(
        database_url,
        "SELECT input_tokens, output_tokens, span_count FROM traces WHERE project_id = %s",
        project_id,
    )


def test_token_sums_past_int64_saturate_and_the_trace_keeps_ingesting(
    client: httpx.Client, database_url: str, project
) -> None:
    tid = trace_id()
    usage = {"gen_ai.usage.input_tokens": _HUGE, "gen_ai.usage.output_tokens": _HUGE}
    spans = [make_span(tid, span_id(), attributes=usage) for _ in range(2)]
    response = post_proto(client, make_request(spans))
    assert response.status_code == 200, response.text
    assert _tokens(database_url, project.id) == [(INT64_MAX, INT64_MAX, 2)]

    # Later batches of the same trace (with more huge counts) are stored, still saturated.
    for _ in range(2):
        more = [make_span(tid, span_id(), attributes=usage) for _ in range(3)]
        response = post_proto(client, make_request(more))
        assert response.status_code == 200, response.text
    assert _tokens(database_url, project.id) == [(INT64_MAX, INT64_MAX, 8)]

    detail = client.get(f"/api/v1/traces/{tid.hex()}")
    assert detail.status_code == 200, detail.text
    listing = client.get("/api/v1/traces")
    assert listing.status_code == 200, listing.text
    item = listing.json()["items"][0]
    assert item["input_tokens"] == INT64_MAX
    assert item["total_tokens"] == INT64_MAX
    metrics = client.get("/api/v1/metrics")
    assert metrics.status_code == 200, metrics.text


def test_metrics_over_many_saturated_traces_saturate(
    client: httpx.Client, database_url: str, project
) -> None:
    usage = {
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": INT64_MAX,
        "gen_ai.usage.output_tokens": INT64_MAX,
    }
    spans = [make_span(trace_id(), span_id(), attributes=usage) for _ in range(3)]
    assert post_proto(client, make_request(spans)).status_code == 200
    metrics = client.get("/api/v1/metrics")
    assert metrics.status_code == 200, metrics.text
    (model,) = metrics.json()["models"]
    assert model["input_tokens"] == model["output_tokens"] == INT64_MAX
    listing = client.get("/api/v1/traces").json()
    assert {item["total_tokens"] for item in listing["items"]} == {INT64_MAX}


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (INT64_MAX, INT64_MAX),
        (-5, None),
        (-(2**63), None),
        (1e30, INT64_MAX),
        (float("nan"), None),
        (float("inf"), None),
        (12.0, 12),
        (12.5, None),
        ("123", None),
        (True, None),
        ([1, 2], None),
        ({"a": 1}, None),
        (b"\x01", None),
    ],
)
def test_token_counts_of_every_type_and_range_are_validated(
    client: httpx.Client, database_url: str, project, value: object, stored: int | None
) -> None:
    tid = trace_id()
    attributes = {"gen_ai.usage.input_tokens": value, "gen_ai.usage.output_tokens": value}
    response = post_proto(client, make_request([make_span(tid, span_id(), attributes=attributes)]))
    assert response.status_code == 200, response.text
    (row,) = _rows(
        database_url,
        "SELECT input_tokens, output_tokens FROM spans WHERE project_id = %s",
        project.id,
    )
    assert row == (stored, stored)
    assert _tokens(database_url, project.id) == [(stored or 0, stored or 0, 1)]


# -- work amplification ---------------------------------------------------------------


def _ld(tag: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (tag byte, varint length, payload)."""
    length, size = bytearray(), len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        length.append(byte | (0x80 if size else 0))
        if not size:
            return bytes([tag]) + bytes(length) + payload


def _one_scope(spans: bytes) -> bytes:
    # ExportTraceServiceRequest.resource_spans(1) > ResourceSpans.scope_spans(2) > spans
    return _ld(0x0A, _ld(0x12, spans))


def _tiny_spans(count: int) -> bytes:
    one = make_span(trace_id(), span_id(), name="").SerializeToString()
    return _one_scope(_ld(0x12, one) * count)


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _refused_within(client: httpx.Client, gzipped: bytes, reason: str, max_mib: int) -> None:
    """The body is refused with 413 naming ``reason``; this process's peak grew < max_mib."""
    before = _peak_mib()
    response = post_proto(client, gzipped, encoding="gzip", precompressed=True)
    assert response.status_code == 413, response.text
    assert reason in response.json()["message"]
    grown = _peak_mib() - before
    assert grown < max_mib, f"peak memory grew by {grown:.0f} MiB"


def _stored(database_url: str, project_id: int) -> int:
    return _rows(database_url, "SELECT count(*) FROM spans WHERE project_id = %s", project_id)[0][0]


@pytest.fixture
def capped(database_url: str):
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings

    running = start_in_thread(Settings(database_url=database_url, max_spans_per_request=10))
    yield running
    running.stop()


def _client_for(running, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=running.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
    )


def test_spans_per_request_are_capped_with_413_naming_the_limit(
    capped, api_key: str, database_url: str, project
) -> None:
    tid = trace_id()
    with _client_for(capped, api_key) as client:
        at_limit = make_request([make_span(tid, span_id()) for _ in range(10)])
        assert post_proto(client, at_limit).status_code == 200
        # Over the limit, also when spread over several resources and scopes.
        over = make_request([make_span(tid, span_id()) for _ in range(6)])
        over.resource_spans.extend(make_request([make_span(tid, span_id())] * 5).resource_spans)
        for encoding in (None, "gzip"):
            response = post_proto(client, over, encoding=encoding)
            assert response.status_code == 413, response.text
            assert "10 spans" in response.json()["message"]
        as_json = client.post("/v1/traces", json=_as_json(over))
        assert as_json.status_code == 413, as_json.text
        assert "10 spans" in as_json.json()["message"]
    assert _stored(database_url, project.id) == 10


def _as_json(request) -> dict:
    from receiver_helpers import to_json

    return to_json(request)


def test_a_small_gzip_of_a_million_tiny_spans_is_refused_without_the_memory(
    client: httpx.Client, database_url: str, project
) -> None:
    import gzip

    body = gzip.compress(_tiny_spans(1_200_000), 9)
    assert len(body) < 400_000  # ~190 KB on the wire, ~58 MB inflated
    _refused_within(client, body, "spans", 200)
    assert _stored(database_url, project.id) == 0


@pytest.mark.parametrize("where", ["span", "resource", "event", "array", "kvlist"])
def test_a_dense_body_of_empty_values_is_refused_without_the_memory(
    client: httpx.Client, database_url: str, project, where: str
) -> None:
    import gzip

    empties = 10_000_000  # 20 MB of two-byte empty messages: ~0.6-1 GB decoded whole
    span = make_span(trace_id(), span_id()).SerializeToString()
    if where == "span":  # Span.attributes(9): empty KeyValues
        body = _one_scope(_ld(0x12, span + b"\x4a\x00" * empties))
    elif where == "resource":  # ResourceSpans.resource(1) > Resource.attributes(1)
        body = _ld(0x0A, _ld(0x0A, b"\x0a\x00" * empties) + _ld(0x12, _ld(0x12, span)))
    elif where == "event":  # Span.events(11) > Event.attributes(3)
        body = _one_scope(_ld(0x12, span + _ld(0x5A, b"\x1a\x00" * empties)))
    else:  # one attribute whose value is an array (5) / kvlist (6) of empty values
        inner = _ld(0x2A if where == "array" else 0x32, b"\x0a\x00" * empties)
        body = _one_scope(_ld(0x12, span + _ld(0x4A, b"\x0a\x01k" + _ld(0x12, inner))))
    _refused_within(client, gzip.compress(body, 6), "values", 300)
    assert _stored(database_url, project.id) == 0


@pytest.mark.parametrize("objects", [1_200_000, 10_000_000])
def test_a_json_body_of_millions_of_empty_objects_is_refused_without_the_memory(
    client: httpx.Client, database_url: str, project, objects: int
) -> None:
    import gzip

    empties = b"{}," * (objects - 1) + b"{}"  # built without a list: no memory peak here
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + empties + b"]}]}]}"
    del empties
    assert len(body) < 64 * 1024 * 1024  # within the decompressed limit
    gzipped = gzip.compress(body, 6)
    del body
    before = _peak_mib()
    response = client.post(
        "/v1/traces",
        content=gzipped,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413, response.text
    assert "spans" in response.json()["message"] or "objects" in response.json()["message"]
    grown = _peak_mib() - before
    assert grown < 300, f"peak memory grew by {grown:.0f} MiB"
    assert _stored(database_url, project.id) == 0
