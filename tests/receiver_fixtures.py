"""Database and receiver fixtures, reusable by every test folder.

- ``database_url`` (session): a freshly created, migrated database with a unique name on
  the server of ``SPANLINK_TEST_DATABASE_URL`` (or on an embedded Postgres when unset),
  dropped at the end of the session.
- ``receiver`` (session): a live uvicorn server on loopback in front of that database.
- ``project`` (function): a new project with an API key (so each test sees only its data);
  ``api_key`` is its key and ``client`` an ``httpx.Client`` authenticated with it.
- ``cli`` (function): ``spanlink-receiver`` commands run in the test's process.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from psycopg import sql

from spanlink.receiver.server import RunningReceiver, start_in_thread
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_api_key, create_project, upgrade

__all__ = [
    "TestProject",
    "api_key",
    "cli",
    "client",
    "database_url",
    "migrated_database",
    "project",
    "receiver",
    "server_url",
]


@dataclass(frozen=True)
class TestProject:
    """A project created for one test."""

    __test__ = False

    id: int
    name: str
    api_key: str


def _with_database(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


def _as_url(conninfo: str) -> str:
    """libpq key=value -> postgresql:// URL (what the receiver takes)."""
    if conninfo.startswith("postgres"):
        return conninfo
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = info.pop("user", "postgres")
    password = info.pop("password", None)
    dbname = info.pop("dbname", "postgres")
    host = info.pop("host", None)
    port = info.pop("port", None)
    auth = f"{user}:{password}@" if password else f"{user}@"
    query = "&".join(f"{k}={v}" for k, v in {"host": host, "port": port, **info}.items() if v)
    return f"postgresql://{auth}/{dbname}" + (f"?{query}" if query else "")


def new_project(database_url: str, prefix: str = "test") -> TestProject:
    """Create a project with one API key (named ``prefix-<random>``)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    key = create_api_key(database_url, name)
    return TestProject(id=create_project(database_url, name), name=name, api_key=key)


@contextmanager
def project_client(url: str, api_key: str) -> Iterator[httpx.Client]:
    """An HTTP client for the receiver at ``url``, authenticated with ``api_key``."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as http:
        yield http


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Maintenance URL of the Postgres server the test databases are created on."""
    given = os.environ.get("SPANLINK_TEST_DATABASE_URL")
    if given:
        yield given
        return
    from spanlink.receiver.embedded import ensure_database_url

    data = tempfile.mkdtemp(prefix="slpg")  # short: the server's socket lives inside
    previous = os.environ.get("SPANLINK_DATA_DIR")
    os.environ["SPANLINK_DATA_DIR"] = data
    try:
        yield ensure_database_url(None)
    finally:
        if previous is None:
            os.environ.pop("SPANLINK_DATA_DIR", None)
        else:
            os.environ["SPANLINK_DATA_DIR"] = previous


@contextmanager
def migrated_database(server_url: str) -> Iterator[str]:
    """A new migrated database on the server of ``server_url``, dropped afterwards."""
    name = f"spanlink_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _as_url(_with_database(server_url, name))
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A migrated database of its own for this test session, dropped afterwards."""
    with migrated_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def receiver(database_url: str) -> Iterator[RunningReceiver]:
    """The receiver serving on a free loopback port for the whole session."""
    running = start_in_thread(Settings(database_url=database_url))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def project(database_url: str) -> TestProject:
    """A new project with one API key."""
    return new_project(database_url)


@pytest.fixture
def api_key(project: TestProject) -> str:
    """The API key of this test's project."""
    return project.api_key


@pytest.fixture
def client(receiver: RunningReceiver, api_key: str) -> Iterator[httpx.Client]:
    """An HTTP client for the live receiver, authenticated as this test's project."""
    with project_client(receiver.url, api_key) as http:
        yield http


#: ``run(*args) -> (exit status, output)``: one ``spanlink-receiver`` command.
CliRun = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliRun]:
    """``run = cli(api_key)``, then ``status, out = run(*args)``: ``spanlink-receiver args``.

    Run in the test's process, 200 columns wide, with ``api_key`` in ``SPANLINK_API_KEY``
    (``None``: not set). ``out`` is what the command printed on stdout; with
    ``cli(api_key, with_stderr=True)``, followed by what it printed on stderr.
    """
    from spanlink.receiver.cli import main

    monkeypatch.setenv("COLUMNS", "200")

    def signed_in(api_key: str | None, with_stderr: bool = False) -> CliRun:
        if api_key is None:
            monkeypatch.delenv("SPANLINK_API_KEY", raising=False)
        else:
            monkeypatch.setenv("SPANLINK_API_KEY", api_key)

        def run(*args: str) -> tuple[int, str]:
            status = main(list(args))
            captured = capsys.readouterr()
            return status, captured.out + (captured.err if with_stderr else "")

        return run

    return signed_in
