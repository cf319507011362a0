"""The receiver's pool checks a connection at checkout by its socket, not a round trip: a
live one is handed out with nothing sent, one the server closed is replaced."""

from __future__ import annotations

import select
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import DatabaseRejected, create_app_engine, read_in_project


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_app_engine(Settings(database_url=database_url, pool_size=1))
    yield engine
    engine.dispose()


def _pooled(engine: Engine) -> tuple[psycopg.Connection[Any], int]:
    """Check a connection out, ask for its server process, and put it back (idle)."""
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        connection.commit()
    return raw, pid


def test_a_checkout_sends_nothing_on_a_live_connection(engine: Engine, tmp_path: Path) -> None:
    raw, _ = _pooled(engine)
    trace = tmp_path / "protocol.trace"
    with trace.open("w") as sink:
        raw.pgconn.trace(sink.fileno())  # libpq logs every message it sends or receives
        try:
            with engine.connect() as connection:
                assert connection.connection.driver_connection is raw  # the pooled one
        finally:
            raw.pgconn.untrace()
    assert trace.read_text() == ""  # no ping: not one message


def test_a_connection_the_server_closed_is_replaced_at_checkout(
    engine: Engine, database_url: str
) -> None:
    raw, pid = _pooled(engine)
    with psycopg.connect(database_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    # The server's notice and the end of the stream reach the idle pooled connection.
    assert select.select([raw.pgconn.socket], [], [], 30)[0]

    with engine.connect() as connection:
        assert connection.connection.driver_connection is not raw
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
        assert connection.exec_driver_sql("SELECT current_user").scalar_one() == "spanlink_app"


def test_a_failed_read_leaves_its_connection_idle_and_as_the_pool_hands_it_out(
    engine: Engine, project
) -> None:
    raw, pid = _pooled(engine)
    with pytest.raises(DatabaseRejected):  # division by zero: the request's fault
        read_in_project(engine, project.id, [("SELECT 1 / 0", {}), ("SELECT 2", {})])
    assert not raw.autocommit
    assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    (rows,) = read_in_project(engine, project.id, [("SELECT pg_backend_pid()", {})])
    assert rows == [(pid,)]  # the same connection, reused
