"""Storing results: one row per trace, and an older computation never overwrites a newer one."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc

from spanlink.receiver.enrichment._store import enrichment_state, save_enrichment
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine, project_scope


def test_an_older_result_never_overwrites_a_newer_one(database_url: str, project) -> None:
    engine = create_app_engine(Settings(database_url=database_url))
    tid = "c" * 32
    try:
        for count, marker in ((3, "new"), (2, "old"), (3, "again")):
            with engine.begin() as connection:
                project_scope(connection, project.id)
                save_enrichment(
                    connection, project.id, tid, {"trace": {"m": marker}}, {"m": "1"}, count
                )
        with engine.begin() as connection:
            project_scope(connection, project.id)
            assert enrichment_state(connection, project.id, tid) is None  # no spans stored
    finally:
        engine.dispose()
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT data, span_count FROM trace_enrichments"
            " WHERE project_id = %s AND trace_id = %s",
            (project.id, tid),
        ).fetchall()
    assert rows == [({"trace": {"m": "again"}}, 3)]


def test_rows_of_another_project_cannot_be_written(database_url: str, project) -> None:
    engine = create_app_engine(Settings(database_url=database_url))
    try:
        with engine.begin() as connection:
            project_scope(connection, project.id)
            with pytest.raises(sqlalchemy.exc.ProgrammingError, match="row-level security"):
                save_enrichment(connection, project.id + 10_000, "d" * 32, {}, {}, 1)
    finally:
        engine.dispose()
