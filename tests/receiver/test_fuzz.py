"""Fuzzing: the ingest decoder (hypothesis) and the HTTP API (schemathesis): no 5xx, ever."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_helpers import make_request, make_span, span_id, trace_id
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from spanlink.receiver.ingest import OTLPError, decode_request, prepare_batch, write_batch
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import (
    create_api_key,
    create_app_engine,
    create_project,
    read_trace_json,
)

LIMIT = 1024 * 1024
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _decode(body: bytes, content_type: str, encoding: str | None) -> None:
    try:
        request, _ = decode_request(body, content_type, encoding, LIMIT)
    except OTLPError as error:
        assert error.status in (400, 413, 415) and str(error)
        return
    prepare_batch(1, request)  # whatever decodes must also validate without crashing


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(["application/x-protobuf", "application/json", "text/plain"]),
    encoding=st.sampled_from([None, "gzip", "deflate", "br"]),
)
def test_random_bytes_never_crash_the_decoder(
    body: bytes, content_type: str, encoding: str | None
) -> None:
    _decode(body, content_type, encoding)


@FUZZ
@given(body=st.binary(max_size=2000))
def test_random_compressed_bytes_never_crash_the_decoder(body: bytes) -> None:
    _decode(gzip.compress(body), "application/x-protobuf", "gzip")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resourceSpans",
                    "scopeSpans",
                    "spans",
                    "traceId",
                    "spanId",
                    "attributes",
                    "key",
                    "value",
                    "stringValue",
                    "intValue",
                    "arrayValue",
                    "values",
                    "kind",
                    "links",
                    "startTimeUnixNano",
                    "endTimeUnixNano",
                    "status",
                    "code",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(document=_json_values)
def test_random_json_never_crashes_the_decoder(document: object) -> None:
    _decode(json.dumps(document).encode(), "application/json", None)


# Values Postgres is picky about: NUL characters, NaN/Infinity, huge ints, deep nesting.
_attribute_values = st.recursive(
    st.text(max_size=30)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.booleans()
    | st.binary(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def scoped_engine(database_url: str) -> Iterator[tuple[Engine, int]]:
    project_id = create_project(database_url, f"fuzz-{uuid.uuid4().hex[:8]}")
    engine = create_app_engine(Settings(database_url=database_url))
    yield engine, project_id
    engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.text(max_size=40),
    attributes=st.dictionaries(st.text(max_size=20), _attribute_values, max_size=6),
    status=st.one_of(st.none(), st.text(max_size=20)),
    resource=st.dictionaries(st.text(max_size=10), _attribute_values, max_size=3),
)
def test_any_valid_span_is_stored_and_read_back(
    scoped_engine: tuple[Engine, int],
    name: str,
    attributes: dict,
    status: str | None,
    resource: dict,
) -> None:
    engine, project_id = scoped_engine
    tid, sid = trace_id(), span_id()  # fresh ids: a re-used id would be deduplicated
    span = make_span(tid, sid, name=name, attributes=attributes, error=status)
    request = make_request([span], resource=resource)
    wire = request.SerializeToString()
    decoded, _ = decode_request(wire, "application/x-protobuf", None, LIMIT)
    batch = prepare_batch(project_id, decoded)
    assert batch.rejected == 0
    write_batch(engine, project_id, batch.rows)
    body = read_trace_json(engine, project_id, tid.hex())
    assert body is not None
    stored = {s["span_id"]: s for s in json.loads(body)["spans"]}[sid.hex()]
    assert stored["name"] == name.replace("\x00", "\ufffd") or stored["name"] == name


@pytest.fixture(scope="module")
def fuzz_key(database_url: str) -> str:
    return create_api_key(database_url, f"schemathesis-{uuid.uuid4().hex[:8]}")


def test_api_never_answers_5xx(receiver, fuzz_key: str) -> None:  # type: ignore[no-untyped-def]
    """Every operation of the OpenAPI document, with generated (also invalid) inputs."""
    api = schemathesis.openapi.from_url(f"{receiver.url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/traces",
        "/api/v1/traces",
        "/api/v1/traces/{trace_id}",
        "/api/v1/metrics",
        "/readyz",
    }
    for operation in operations:

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                base_url=receiver.url, headers=headers, checks=[not_a_server_error]
            )

        check()
