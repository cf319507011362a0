"""Tenancy: a project never sees, writes over or links into another project's data."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy.exc
from receiver_fixtures import new_project, project_client
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from sqlalchemy import Engine, text

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import (
    create_app_engine,
    project_scope,
)
from spanlink.receiver.storage._tables import RLS_TABLES


@pytest.fixture
def other(receiver, database_url: str) -> Iterator[tuple[int, httpx.Client]]:
    """A second project and a client for it."""
    created = new_project(database_url, "other")
    with project_client(receiver.url, created.api_key) as c:
        yield created.id, c


@pytest.fixture
def app_engine(database_url: str) -> Iterator[Engine]:
    engine = create_app_engine(Settings(database_url=database_url))
    yield engine
    engine.dispose()


def _seed(client: httpx.Client, tid: bytes, sid: bytes, name: str) -> None:
    attributes = {"spanlink.test.run_id": "shared-run", "spanlink.input": f"secret {name}"}
    request = make_request([make_span(tid, sid, name=name, attributes=attributes)])
    assert post_proto(client, request).status_code == 200


def test_reads_are_scoped_on_every_endpoint(
    client: httpx.Client, other: tuple[int, httpx.Client]
) -> None:
    _, other_client = other
    tid, sid = trace_id(), span_id()
    _seed(client, tid, sid, "mine")
    assert client.get(f"/api/v1/traces/{tid.hex()}").status_code == 200
    assert other_client.get(f"/api/v1/traces/{tid.hex()}").status_code == 404
    span = f"/api/v1/traces/{tid.hex()}/spans/{sid.hex()}"
    assert client.get(span).json()["attributes"]["spanlink.input"] == "secret mine"
    assert other_client.get(span).status_code == 404
    for params in ({}, {"test_run_id": "shared-run"}, {"q": "secret"}, {"name": "mine"}):
        listing = other_client.get("/api/v1/traces", params=params).json()
        assert listing == {
            "items": [],
            "total": 0,
            "limit": 50,
            "offset": 0,
            "next_offset": None,
            "total_is_estimate": False,
        }
    assert other_client.get("/api/v1/metrics").json()["trace_count"] == 0
    assert client.get("/api/v1/metrics").json()["trace_count"] == 1


def test_writes_cannot_touch_another_project(
    client: httpx.Client, other: tuple[int, httpx.Client]
) -> None:
    _, other_client = other
    tid, sid = trace_id(), span_id()
    _seed(client, tid, sid, "original")
    # The other project sends the very same ids: it gets its own copy, ours is untouched.
    _seed(other_client, tid, sid, "impostor")
    mine = client.get(f"/api/v1/traces/{tid.hex()}").json()
    theirs = other_client.get(f"/api/v1/traces/{tid.hex()}").json()
    assert [s["name"] for s in mine["spans"]] == ["original"]
    assert [s["name"] for s in theirs["spans"]] == ["impostor"]
    span = f"/api/v1/traces/{tid.hex()}/spans/{sid.hex()}"
    assert client.get(span).json()["attributes"]["spanlink.input"] == "secret original"
    assert other_client.get(span).json()["attributes"]["spanlink.input"] == "secret impostor"
    assert client.get("/api/v1/traces").json()["items"][0]["span_count"] == 1


def test_row_level_security_is_a_second_wall(
    client: httpx.Client, project, other: tuple[int, httpx.Client], app_engine: Engine
) -> None:
    other_id, other_client = other
    _seed(client, trace_id(), span_id(), "mine")
    _seed(other_client, trace_id(), span_id(), "theirs")
    with app_engine.begin() as connection:
        project_scope(connection, other_id)
        # Queries that "forgot" the project filter still see only the scoped project.
        names = connection.execute(text("SELECT name FROM spans")).scalars().all()
        assert names == ["theirs"]
        for table in RLS_TABLES:
            rows = connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE project_id = :p"), {"p": project.id}
            ).scalar_one()
            assert rows == 0, table
    with app_engine.begin() as connection:  # no project bound: nothing at all
        for table in RLS_TABLES:
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_row_level_security_refuses_writes_into_another_project(
    project, other: tuple[int, httpx.Client], app_engine: Engine
) -> None:
    other_id, _ = other
    with pytest.raises(sqlalchemy.exc.ProgrammingError, match="row-level security"):
        with app_engine.begin() as connection:
            project_scope(connection, other_id)
            connection.execute(
                text("INSERT INTO test_runs (project_id, name) VALUES (:p, 'sneaky')"),
                {"p": project.id},
            )
    with pytest.raises(sqlalchemy.exc.ProgrammingError, match="row-level security"):
        with app_engine.begin() as connection:
            project_scope(connection, other_id)
            connection.execute(
                text(
                    "INSERT INTO trace_enrichments (project_id, trace_id, data) "
                    "VALUES (:p, :t, '{}')"
                ),
                {"p": project.id, "t": "ab" * 16},
            )
    with app_engine.begin() as connection:
        project_scope(connection, other_id)
        updated = connection.execute(
            text("UPDATE spans SET name = 'x' WHERE project_id = :p"), {"p": project.id}
        )
        assert updated.rowcount == 0


def test_the_app_connection_is_not_privileged(app_engine: Engine) -> None:
    with app_engine.connect() as connection:
        role = connection.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
    assert role is False


def test_time_is_scoped_too(client: httpx.Client, other: tuple[int, httpx.Client]) -> None:
    _, other_client = other
    tid = trace_id()
    request = make_request([make_span(tid, span_id(), start=NOW)])
    assert post_proto(client, request).status_code == 200
    assert other_client.get("/api/v1/traces", params={"min_duration_ms": 0}).json()["total"] == 0


def test_full_text_match_is_leakproof_so_search_keeps_its_index(app_engine: Engine) -> None:
    # Policies run before non-leakproof conditions, which then cannot drive an index scan;
    # the migration marks the tsvector match operator leakproof so the GIN index serves
    # searches under row-level security (bench/bench_query.py shows the difference).
    with app_engine.connect() as connection:
        leakproof = connection.execute(
            text("SELECT proleakproof FROM pg_proc WHERE oid = 'ts_match_vq'::regproc")
        ).scalar_one()
    assert leakproof is True
