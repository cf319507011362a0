"""Database engines, the tenant scope of a transaction, and the "database down" error.

The receiver's engine acts as the ``spanlink_app`` role (``SET ROLE`` on every new
connection when the login role is a superuser or bypasses row-level security), so the
row-level-security policies apply to every query it runs: a query that forgot its
``project_id`` filter still sees nothing of another project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage._tables import APP_ROLE

__all__ = [
    "DatabaseUnavailable",
    "create_app_engine",
    "create_owner_engine",
    "database_errors",
    "project_scope",
    "project_transaction",
    "run_in_project",
    "sqlalchemy_url",
]

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached or dropped the connection; retry later."""


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://...`` (libpq form) -> the SQLAlchemy URL using the psycopg 3 driver."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _connect_args(settings: Settings) -> dict[str, Any]:
    return {
        "connect_timeout": settings.connect_timeout,
        # Custom plans always: psycopg prepares repeated statements, and a generic plan
        # cannot see how selective a search term or test id is.
        "options": (
            f"-c statement_timeout={settings.statement_timeout_ms} "
            "-c plan_cache_mode=force_custom_plan"
        ),
        "application_name": "spanlink-receiver",
    }


def create_owner_engine(database_url: str, settings: Settings | None = None) -> Engine:
    """An engine acting as the login role itself: migrations and administration."""
    settings = settings or Settings(database_url=database_url)
    return create_engine(
        sqlalchemy_url(database_url),
        connect_args=_connect_args(settings),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
        pool_timeout=settings.pool_timeout,
    )


def create_app_engine(settings: Settings) -> Engine:
    """The receiver's engine: pooled, with deadlines, acting as the row-level-security role."""
    if not settings.database_url:
        raise ValueError("Settings.database_url is not set; pass a PostgreSQL URL")
    engine = create_engine(
        sqlalchemy_url(settings.database_url),
        connect_args=_connect_args(settings),
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=1800,
    )

    @event.listens_for(engine, "connect")
    def _act_as_app_role(dbapi_connection: psycopg.Connection[Any], _record: Any) -> None:
        # Superusers and BYPASSRLS roles ignore policies: drop to the app role. Any other
        # login role is subject to the (FORCEd) policies already.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.rolsuper OR r.rolbypassrls, "
                "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) "
                "FROM pg_roles r WHERE r.rolname = current_user",
                (APP_ROLE,),
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                if not row[1]:
                    raise RuntimeError(
                        f"role {APP_ROLE} is missing: run `spanlink-receiver migrate` as a "
                        "role that may create roles, or connect as a non-superuser"
                    )
                cursor.execute(f"SET ROLE {APP_ROLE}")
        dbapi_connection.commit()

    return engine


def project_scope(connection: Connection, project_id: int) -> None:
    """Bind the current transaction to one project (row-level security reads this)."""
    connection.execute(
        text("SELECT set_config('spanlink.project_id', :pid, true)"), {"pid": str(project_id)}
    )


@contextmanager
def project_transaction(engine: Engine, project_id: int) -> Iterator[Connection]:
    """A transaction bound to one project, with "database down" errors as
    :class:`DatabaseUnavailable`: the one way the receiver reads or writes project data.
    """
    with database_errors(), engine.begin() as connection:
        project_scope(connection, project_id)
        yield connection


async def run_in_project(engine: Engine, project_id: int, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a :func:`project_transaction`, in a worker thread (the event loop
    never waits on the database)."""

    def run() -> T:
        with project_transaction(engine, project_id) as connection:
            return work(connection)

    return await run_in_threadpool(run)


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # pool exhausted past its deadline
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        orig = error.orig
        if isinstance(orig, psycopg.errors.QueryCanceled):  # statement_timeout
            return True
        if isinstance(orig, psycopg.OperationalError):
            return True
    return isinstance(error, psycopg.OperationalError)


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn "cannot reach / lost the database" errors into :class:`DatabaseUnavailable`."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, psycopg.Error) as error:
        if _is_unavailable(error):
            raise DatabaseUnavailable(str(error).splitlines()[0]) from error
        raise
