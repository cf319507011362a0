"""Database errors are classified: an outage is 503 (retry later), a request the database
refuses for its own data is a 4xx (retrying can never succeed), a bug stays a bug.

Every error here is raised by a real Postgres (or a real refused connection).
"""

from __future__ import annotations

import random
import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from receiver_helpers import count_rows, make_request, make_span, post_proto, span_id, trace_id
from sqlalchemy import Engine, text

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import (
    MAX_INDEXED_BYTES,
    DatabaseRejected,
    DatabaseUnavailable,
    bound_indexed,
    create_owner_engine,
    database_errors,
)

_RANDOM = random.Random(3)
_INCOMPRESSIBLE = "".join(_RANDOM.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=4000))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_owner_engine(database_url)
    yield engine
    engine.dispose()


def _run(engine: Engine, *statements: str) -> None:
    with database_errors(), engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


@pytest.mark.parametrize(
    ("statements", "status"),
    [
        # index row size exceeds the btree maximum: program_limit_exceeded (54000)
        (
            (
                "CREATE TEMP TABLE t (v text)",
                "CREATE INDEX ON t (v)",
                f"INSERT INTO t VALUES ('{_INCOMPRESSIBLE}')",
            ),
            400,
        ),
        (("SELECT 1 / 0",), 400),  # division_by_zero (22012)
        (("SELECT 9223372036854775807::bigint + 1",), 400),  # numeric out of range (22003)
        (("SELECT 'x'::int",), 400),  # invalid text representation (22P02)
        (
            (
                "CREATE TEMP TABLE u (v int PRIMARY KEY)",
                "INSERT INTO u VALUES (1), (1)",
            ),
            409,  # unique_violation (23505)
        ),
        (("CREATE TEMP TABLE c (v int CHECK (v > 0))", "INSERT INTO c VALUES (-1)"), 409),
    ],
)
def test_errors_of_the_requests_data_are_rejections_not_outages(
    engine: Engine, statements: tuple[str, ...], status: int
) -> None:
    with pytest.raises(DatabaseRejected) as caught:
        _run(engine, *statements)
    assert caught.value.status == status
    assert not isinstance(caught.value, DatabaseUnavailable)
    _run(engine, "SELECT 1")  # the pool is healthy afterwards


def test_data_the_driver_refuses_to_send_is_a_rejection(engine: Engine) -> None:
    # psycopg refuses a NUL in a text parameter itself (no SQLSTATE): still the request's data.
    with pytest.raises(DatabaseRejected) as caught:
        with database_errors(), engine.begin() as connection:
            connection.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
    assert caught.value.status == 400
    _run(engine, "SELECT 1")


def test_an_undefined_column_propagates_as_a_bug(engine: Engine) -> None:
    with pytest.raises(sqlalchemy.exc.ProgrammingError):
        _run(engine, "SELECT no_such_column FROM pg_class")


def test_a_refused_connection_is_an_outage() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    engine = create_owner_engine(url, Settings(database_url=url, connect_timeout=1))
    try:
        with pytest.raises(DatabaseUnavailable):
            _run(engine, "SELECT 1")
    finally:
        engine.dispose()


def test_a_terminated_session_is_an_outage(engine: Engine, database_url: str) -> None:
    with pytest.raises(DatabaseUnavailable):
        with database_errors(), engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            connection.execute(text("SELECT 1"))


def test_a_statement_timeout_and_a_lock_timeout_are_outages(
    engine: Engine, database_url: str
) -> None:
    with pytest.raises(DatabaseUnavailable):
        _run(engine, "SET LOCAL statement_timeout = 50", "SELECT pg_sleep(5)")
    name = f"locked_{uuid.uuid4().hex[:8]}"
    _run(engine, f"CREATE TABLE {name} (v int)")
    try:
        holding = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with psycopg.connect(database_url) as other:
                other.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait(10)
        try:
            with pytest.raises(DatabaseUnavailable):
                _run(engine, "SET LOCAL lock_timeout = 50", f"SELECT * FROM {name}")
        finally:
            release.set()
            holder.join()
    finally:
        _run(engine, f"DROP TABLE {name}")


# -- the client-reported test-run path ---------------------------------------------------

_EMOJI = "".join(chr(_RANDOM.randrange(0x1F300, 0x1F5FF)) for _ in range(1900))  # 7.6 KB


def test_a_reported_result_with_an_over_long_case_id_is_stored_bounded(
    client: httpx.Client, database_url: str, project
) -> None:
    run_id = uuid.uuid4().hex
    created = client.post("/api/v1/test-runs", json={"source": "pytest", "id": run_id})
    assert created.status_code == 201, created.text
    result = {"id": uuid.uuid4().hex, "case_id": _EMOJI, "status": "passed"}
    answer = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [result]})
    assert answer.status_code == 200, answer.text
    with psycopg.connect(database_url) as connection:
        (case_id,) = connection.execute(
            "SELECT case_id FROM test_results WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert case_id == bound_indexed(_EMOJI)
    assert len(case_id.encode()) <= MAX_INDEXED_BYTES
    # Reported again (same id): still one result.
    again = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [result]})
    assert again.status_code == 200, again.text
    detail = client.get(f"/api/v1/test-runs/{run_id}")
    assert detail.status_code == 200, detail.text


# -- a batch the database refuses part of ------------------------------------------------


@pytest.fixture
def poison_check(database_url: str) -> Iterator[None]:
    """A real constraint that refuses spans named ``poison`` (a value no bound catches)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE spans ADD CONSTRAINT test_poison CHECK (name <> 'poison') NOT VALID"
        )
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("ALTER TABLE spans DROP CONSTRAINT test_poison")


def test_spans_the_database_refuses_are_left_out_and_named_the_rest_stored(
    client: httpx.Client, database_url: str, project, poison_check: None
) -> None:
    tid = trace_id()
    bad = [span_id(), span_id()]
    spans = [make_span(tid, span_id(), name=f"ok{i}") for i in range(9)]
    spans.insert(2, make_span(tid, bad[0], name="poison"))
    spans.insert(7, make_span(tid, bad[1], name="poison"))
    response = post_proto(client, make_request(spans))
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    for sid in bad:
        assert sid.hex() in answer.partial_success.error_message
    assert count_rows(database_url, project.id) == 9
    with psycopg.connect(database_url) as connection:
        (span_count,) = connection.execute(
            "SELECT span_count FROM traces WHERE project_id = %s", (project.id,)
        ).fetchone()
    assert span_count == 9
    # Only refused spans: 400 naming them, not 503 (retrying can never succeed).
    only_bad = post_proto(client, make_request([make_span(trace_id(), span_id(), name="poison")]))
    assert only_bad.status_code == 400, only_bad.text
    assert "refused" in only_bad.json()["message"]
    assert count_rows(database_url, project.id) == 9
