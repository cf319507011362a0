"""Full-text vectors are computed after ingest by the search indexer (``receiver.search``).

A database of its own, and a receiver whose indexer is off: each test runs the indexers
itself, so it knows what is indexed and what is still queued. Searches must find every
stored span either way: a queued one by computing its vector on the fly.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from receiver_fixtures import (
    _as_url,
    _with_database,
    migrated_database,
    new_project,
    project_client,
)
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.search import IndexedBatch, SearchIndexer
from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine, create_owner_engine, upgrade


@pytest.fixture(scope="module")
def search_db(server_url: str) -> Iterator[str]:
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def unindexed_receiver(search_db: str) -> Iterator[RunningReceiver]:
    running = start_in_thread(Settings(database_url=search_db, search_indexer=False))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(unindexed_receiver: RunningReceiver, search_db: str) -> Iterator[httpx.Client]:
    with project_client(unindexed_receiver.url, new_project(search_db).api_key) as client:
        yield client


@pytest.fixture
def indexer(search_db: str) -> Iterator[SearchIndexer]:
    settings = Settings(database_url=search_db)
    engine = create_app_engine(settings)
    try:
        yield SearchIndexer(settings, engine)
    finally:
        engine.dispose()


def _store(client: httpx.Client, *texts: str) -> list[str]:
    """One trace per text (its root span's input); their trace ids."""
    ids = []
    for content in texts:
        tid = trace_id()
        span = make_span(tid, span_id(), name="chat", attributes={"spanlink.input": content})
        assert post_proto(client, make_request([span])).status_code == 200
        ids.append(tid.hex())
    return ids


def _found(client: httpx.Client, q: str) -> list[str]:
    response = client.get("/api/v1/traces", params={"q": q, "limit": 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return sorted(item["trace_id"] for item in body["items"])


def _count(database_url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(database_url) as connection:  # the owner: every project
        row = connection.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


def test_a_span_is_found_before_and_after_it_is_indexed(
    http: httpx.Client, search_db: str, indexer: SearchIndexer
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    [tid] = _store(http, f"please {word} my parcel")
    assert _count(search_db, "SELECT count(*) FROM span_search WHERE trace_id = %s", tid) == 0
    assert _found(http, word) == [tid]  # queued: matched on the fly
    indexer.drain()
    assert _count(search_db, "SELECT count(*) FROM span_search_queue") == 0
    assert _count(search_db, "SELECT count(*) FROM span_search WHERE trace_id = %s", tid) == 1
    assert _found(http, word) == [tid]  # indexed: the stored vector
    assert _found(http, "zqnothing") == []


def test_two_receivers_index_each_span_exactly_once(
    http: httpx.Client, search_db: str, indexer: SearchIndexer
) -> None:
    indexer.drain()
    word = f"zq{uuid.uuid4().hex[:8]}"
    stored = _store(http, *(f"{word} number {n}" for n in range(24)))
    queued = _count(search_db, "SELECT count(*) FROM span_search_queue")
    assert queued == 24
    other_settings = Settings(database_url=search_db)
    other_engine = create_app_engine(other_settings)
    other = SearchIndexer(other_settings, other_engine)
    done: dict[str, list[IndexedBatch]] = {}
    start = threading.Barrier(2)

    def run(name: str, worker: SearchIndexer) -> None:
        start.wait(timeout=10)
        done[name] = worker.drain()

    try:
        threads = [
            threading.Thread(target=run, args=(name, worker))
            for name, worker in (("one", indexer), ("two", other))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other_engine.dispose()
    batches = [batch.batch_id for name in ("one", "two") for batch in done[name]]
    assert len(batches) == len(set(batches)) == queued  # no batch indexed twice
    assert sum(batch.indexed for name in ("one", "two") for batch in done[name]) == 24
    assert _count(search_db, "SELECT count(*) FROM span_search_queue") == 0
    assert (
        _count(
            search_db,
            "SELECT count(*) FROM span_search WHERE trace_id = ANY(%s) AND search IS NOT NULL",
            stored,
        )
        == 24
    )
    assert _found(http, word) == sorted(stored)


def test_one_projects_search_never_sees_anothers(
    http: httpx.Client,
    unindexed_receiver: RunningReceiver,
    search_db: str,
    indexer: SearchIndexer,
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    mine = _store(http, f"{word} mine")
    with project_client(unindexed_receiver.url, new_project(search_db).api_key) as theirs:
        their_ids = _store(theirs, f"{word} theirs")
        # Both queued, then both indexed: each project sees its own trace only.
        assert (_found(http, word), _found(theirs, word)) == (mine, their_ids)
        indexer.drain()
        assert (_found(http, word), _found(theirs, word)) == (mine, their_ids)


def test_a_span_the_indexer_cannot_index_does_not_hold_up_the_rest(
    http: httpx.Client,
    search_db: str,
    indexer: SearchIndexer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    indexer.drain()
    word = f"zq{uuid.uuid4().hex[:8]}"
    tid = trace_id()
    spans = [
        make_span(tid, span_id(), name="chat", attributes={"spanlink.input": f"{word} {n}"})
        for n in range(5)
    ]
    bad = spans[2].span_id.hex()
    # The database refuses this one span's vector (a fault of the database, not of the code).
    with psycopg.connect(search_db, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION refuse_span() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.span_id = '{bad}' AND NEW.search IS NOT NULL THEN "
            "RAISE EXCEPTION 'vector refused for this test'; END IF; RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER refuse_span BEFORE INSERT ON span_search "
            "FOR EACH ROW EXECUTE FUNCTION refuse_span()"
        )
    try:
        assert post_proto(http, make_request(spans)).status_code == 200
        with caplog.at_level(logging.WARNING, logger="spanlink.receiver.search"):
            [batch] = indexer.drain()
    finally:
        with psycopg.connect(search_db, autocommit=True) as connection:
            connection.execute("DROP TRIGGER refuse_span ON span_search")
            connection.execute("DROP FUNCTION refuse_span()")
    assert (batch.indexed, batch.failed) == (4, (bad,))
    assert _count(search_db, "SELECT count(*) FROM span_search_queue") == 0
    with psycopg.connect(search_db) as connection:
        recorded = connection.execute(
            "SELECT span_id, search IS NULL, error FROM span_search WHERE trace_id = %s "
            "AND error IS NOT NULL",
            (tid.hex(),),
        ).fetchall()
    assert [(row[0], row[1]) for row in recorded] == [(bad, True)]
    assert "vector refused for this test" in recorded[0][2]
    assert any(bad in record.getMessage() for record in caplog.records)
    # The other spans are searchable; the refused one is skipped, not retried forever.
    assert _found(http, word) == [tid.hex()]
    assert _found(http, f"{word} 2") == []
    assert indexer.drain() == []


def test_huge_text_is_indexed_within_its_bound(
    http: httpx.Client, search_db: str, indexer: SearchIndexer
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    [tid] = _store(http, f"{word} " + "lorem ipsum dolor " * 60_000)  # ~1 MB of text
    assert _found(http, word) == [tid]
    [batch] = indexer.drain()
    assert (batch.indexed, batch.failed) == (1, ())
    assert _found(http, word) == [tid]


def test_the_migration_moves_the_stored_vectors(server_url: str) -> None:
    """A database at 0008 with a span (and its generated vector) upgraded to the head."""
    name = f"spanlink_test_migration_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    url = _as_url(_with_database(server_url, name))
    config = Config()
    config.set_main_option("script_location", "spanlink.receiver.storage:migrations")
    try:
        owner = create_owner_engine(url)
        with owner.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008_query_indexes")
        owner.dispose()
        with psycopg.connect(url) as connection:
            connection.execute("INSERT INTO projects (name) VALUES ('old') RETURNING id")
            connection.execute(
                "INSERT INTO spans (project_id, trace_id, span_id, name, kind, start_ns, end_ns,"
                " duration_ns, status_code, attributes, events, links, resource) SELECT id,"
                " 't1', 's1', 'chat', 'INTERNAL', 1, 2, 1, 'UNSET',"
                " '{\"spanlink.input\": \"an old refund\"}', '[]', '[]', '{}' FROM projects"
            )
        upgrade(url)
        with psycopg.connect(url) as connection:
            moved = connection.execute(
                "SELECT span_id FROM span_search "
                "WHERE search @@ websearch_to_tsquery('english', 'refunds')"
            ).fetchall()
            columns = connection.execute(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'spans' AND column_name = 'search'"
            ).fetchone()
        assert moved == [("s1",)]
        assert columns == (0,)
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_resent_or_overlapping_batch_queues_only_its_new_spans(
    http: httpx.Client, search_db: str, indexer: SearchIndexer
) -> None:
    indexer.drain()
    tid = trace_id()
    old = [make_span(tid, span_id(), attributes={"spanlink.input": "first"}) for _ in range(10)]
    new = [make_span(tid, span_id(), attributes={"spanlink.input": "second"}) for _ in range(5)]
    for request in (make_request(old), make_request(old), make_request(old[5:] + new)):
        assert post_proto(http, request).status_code == 200
    queued = "SELECT count(*), count(DISTINCT s) FROM span_search_queue, unnest(span_ids) AS s"
    with psycopg.connect(search_db) as connection:
        assert connection.execute(queued).fetchone() == (15, 15)
    assert sum(batch.indexed for batch in indexer.drain()) == 15
    assert (
        _count(search_db, "SELECT count(*) FROM span_search WHERE trace_id = %s", tid.hex()) == 15
    )


def test_the_receivers_own_indexers_index_what_it_stores(search_db: str) -> None:
    running = start_in_thread(Settings(database_url=search_db, search_index_workers=2))
    try:
        with project_client(running.url, new_project(search_db).api_key) as client:
            stored = _store(client, *(f"background {n}" for n in range(6)))
            deadline = time.monotonic() + 60
            query = "SELECT count(*) FROM span_search WHERE trace_id = ANY(%s)"
            while _count(search_db, query, stored) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _count(search_db, query, stored) == 6
            assert _found(client, "background") == sorted(stored)
    finally:
        running.stop()
