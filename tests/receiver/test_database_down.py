"""Database outage: 503 with Retry-After, nothing half-written, recovery on its own.

The receiver reaches Postgres through a TCP proxy on loopback that the test can cut: all
connections at once (outage), a connection at the moment it sends ``COMMIT`` (the
database dies mid-batch), or freeze: connections stay open and accept bytes, and nothing
is forwarded (packets dropped on the way; the database never answers).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import receiver_fixtures
from psycopg import sql
from receiver_helpers import count_rows, make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings

#: What an ingest batch's write sends (the statement that inserts into ``spans``).
INGEST_WRITE = b"INSERT INTO spans"


class CuttableProxy:
    """Forwards loopback TCP to Postgres until told to fail."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.cut_on: bytes | None = None
        self.freeze_on: bytes | None = None
        self.cuts = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # a silent database must look silent, not closed
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, to_server: bool) -> None:
        # Only the COMMIT of a transaction that wrote an ingest batch is cut: the receiver's
        # background work (enrichment, linking, search indexing, heartbeats) commits too.
        copied = False
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if to_server and self.freeze_on is not None and self.freeze_on in data:
                    self.freeze_on = None
                    self.freeze()  # mid-statement, on a connection in use
                self._flowing.wait()  # frozen: hold the bytes, answer nothing
                if to_server:
                    copied = copied or INGEST_WRITE in data
                    if copied and self.cut_on is not None and self.cut_on in data:
                        self.cut_on = None
                        self.cuts += 1
                        break  # the statement never reaches the server
                    if b"COMMIT" in data or b"ROLLBACK" in data:
                        copied = False
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def take_down(self) -> None:
        """Refuse new connections and drop every open one."""
        self.down = True
        with self._lock:
            open_sockets = list(self._sockets)
        self._close(*open_sockets)

    def bring_up(self) -> None:
        self.down = False

    def freeze(self) -> None:
        """Keep every connection open and accepting, and forward nothing."""
        self._flowing.clear()

    def thaw(self) -> None:
        """The path works again; connections open during the freeze are dead (as after a
        network partition, their held bytes are never delivered)."""
        with self._lock:
            frozen = list(self._sockets)
        self._close(*frozen)
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.thaw()
        self.take_down()
        self.listener.close()


@pytest.fixture
def proxied(database_url: str) -> Iterator[tuple[CuttableProxy, RunningReceiver]]:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    host = str(info.get("host") or "127.0.0.1")
    if host.startswith("/"):
        pytest.skip("the test database is on a Unix socket: no TCP to cut")
    proxy = CuttableProxy((host, int(info.get("port") or 5432)))
    password = f":{info['password']}" if info.get("password") else ""
    user = info.get("user") or "postgres"
    url = f"postgresql://{user}{password}@127.0.0.1:{proxy.port}/{info['dbname']}"
    settings = Settings(
        database_url=url,
        connect_timeout=2,
        pool_timeout=2,
        retry_after_seconds=3,
        database_deadline_s=2,
    )
    running = start_in_thread(settings)
    yield proxy, running
    running.stop()
    proxy.close()


def _batch(tid: bytes, n: int = 50) -> bytes:
    return make_request(
        [make_span(tid, span_id(), name=f"s{i}") for i in range(n)]
    ).SerializeToString()


def test_outage_gives_503_nothing_half_written_and_recovery(
    proxied: tuple[CuttableProxy, RunningReceiver], api_key: str, database_url: str, project
) -> None:
    proxy, running = proxied
    with httpx.Client(
        base_url=running.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        assert post_proto(client, _batch(trace_id())).status_code == 200
        assert count_rows(database_url, project.id) == 50

        # The database goes away while a batch is being committed.
        mid = trace_id()
        proxy.cut_on = b"COMMIT"
        response = post_proto(client, _batch(mid))
        assert proxy.cuts == 1
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "3"
        assert count_rows(database_url, project.id) == 50  # none of that batch
        assert count_rows(database_url, project.id, "traces") == 1

        # A full outage: every request is 503, readiness says so.
        proxy.take_down()
        for _ in range(3):
            response = post_proto(client, _batch(trace_id()))
            assert response.status_code == 503
            assert response.headers["retry-after"] == "3"
            assert "database unavailable" in response.json()["message"]
        assert client.get("/api/v1/traces").status_code == 503
        assert client.get("/readyz").status_code == 503

        # Back again: the receiver recovers by itself; the retried batch lands once.
        proxy.bring_up()
        assert client.get("/readyz").status_code == 200
        assert post_proto(client, _batch(mid)).status_code != 503
        assert count_rows(database_url, project.id) == 50 + 50
        listing = client.get("/api/v1/traces").json()
        assert listing["total"] == 2 and {r["span_count"] for r in listing["items"]} == {50}


def test_readyz_asks_for_migrations_on_an_unmigrated_database(server_url: str) -> None:
    name = f"spanlink_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        info = psycopg.conninfo.conninfo_to_dict(server_url)
        info["dbname"] = name
        url = receiver_fixtures._as_url(psycopg.conninfo.make_conninfo(**info))
        with start_in_thread(Settings(database_url=url)) as running:
            response = httpx.get(f"{running.url}/readyz")
            assert response.status_code == 503
            assert "spanlink-receiver migrate" in response.json()["message"]
            assert httpx.get(f"{running.url}/healthz").status_code == 200
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_a_frozen_database_answers_503_within_the_deadline_and_nothing_is_lost(
    proxied: tuple[CuttableProxy, RunningReceiver], api_key: str, database_url: str, project
) -> None:
    proxy, running = proxied
    other_key = receiver_fixtures.create_api_key(database_url, project.name)
    # Without a client-side deadline these requests wait for the whole freeze; the
    # client's own timeout (far above the receiver's 2 s deadline) turns that into a failure.
    with httpx.Client(
        base_url=running.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=25
    ) as client:
        assert post_proto(client, _batch(trace_id())).status_code == 200  # key now cached

        # The database freezes while a batch is being written (its insert is held), then
        # more batches arrive while it stays frozen.
        frozen_batch = trace_id()
        proxy.freeze_on = INGEST_WRITE
        in_flight = post_proto(client, _batch(frozen_batch))
        assert in_flight.status_code == 503, in_flight.text
        assert in_flight.headers["retry-after"] == "3"
        assert "database" in in_flight.json()["message"]
        results: list[httpx.Response] = []

        def send() -> None:
            results.append(post_proto(client, _batch(frozen_batch)))

        senders = [threading.Thread(target=send) for _ in range(3)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        for response in results:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "3"
        # A key not seen before is looked up in the frozen database: 503 too, not a hang.
        unknown = client.post(
            "/v1/traces",
            content=_batch(trace_id()),
            headers={
                "Content-Type": "application/x-protobuf",
                "Authorization": f"Bearer {other_key}",
            },
        )
        assert unknown.status_code == 503, unknown.text
        assert count_rows(database_url, project.id) == 50  # nothing of the frozen batches

        proxy.thaw()
        response = post_proto(client, _batch(frozen_batch))
        assert response.status_code == 200, response.text
        assert count_rows(database_url, project.id) == 100
        assert count_rows(database_url, project.id, "traces") == 2
