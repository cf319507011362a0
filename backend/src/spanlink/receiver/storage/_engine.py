"""Database engines, the tenant scope of a transaction, and the "database down" error.

The receiver's engine acts as the ``spanlink_app`` role (``SET ROLE`` on every new
connection when the login role is a superuser or bypasses row-level security), so the
row-level-security policies apply to every query it runs: a query that forgot its
``project_id`` filter still sees nothing of another project.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.settings import Settings
from spanlink.receiver.storage._deadline import (
    DeadlineConnection,
    database_deadline,
    deadline_expired,
)
from spanlink.receiver.storage._liveness import check_on_checkout
from spanlink.receiver.storage._tables import APP_ROLE

# Engine -> the client-side deadline of each of its project transactions, in seconds.
_TRANSACTION_DEADLINES: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()

__all__ = [
    "DatabaseRejected",
    "DatabaseUnavailable",
    "Results",
    "Statements",
    "create_app_engine",
    "create_owner_engine",
    "database_errors",
    "project_scope",
    "project_transaction",
    "read_in_project",
    "read_steps_in_project",
    "run_in_project",
    "sqlalchemy_url",
]

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached or dropped the connection; retry later."""


class DatabaseRejected(Exception):
    """The database refused this request's data (a value out of range, a value too long
    for an index, a constraint): sending it again cannot succeed. ``status`` is the HTTP
    status to answer (400, or 409 for a constraint)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://...`` (libpq form) -> the SQLAlchemy URL using the psycopg 3 driver."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _connect_args(settings: Settings) -> dict[str, Any]:
    return {
        "connect_timeout": settings.connect_timeout,
        # A peer that vanishes (packets dropped) is noticed by TCP: keepalive probes on
        # idle connections, and unacknowledged data given up after tcp_user_timeout. A peer
        # that acknowledges but never answers is the client-side deadline's job (_deadline).
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": int(settings.database_deadline_s * 1000),
        # Custom plans always: psycopg prepares repeated statements, and a generic plan
        # cannot see how selective a search term or test id is.
        "options": (
            f"-c statement_timeout={settings.statement_timeout_ms} "
            "-c plan_cache_mode=force_custom_plan"
        ),
        "application_name": "spanlink-receiver",
    }


def _with_deadlines(engine: Engine, settings: Settings) -> Engine:
    """Connections of ``engine`` honour :func:`database_deadline`; every transaction of
    :func:`project_transaction` gets ``statement_timeout + database_deadline_s`` unless the
    request set a shorter deadline (the ingest path sets ``database_deadline_s``)."""

    @event.listens_for(engine, "do_connect")
    def _connect(
        _dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> DeadlineConnection:
        return DeadlineConnection.connect(*cargs, **cparams)

    # A backstop for work outside requests: never cut a statement the server still allows.
    backstop = settings.statement_timeout_ms / 1000 + settings.database_deadline_s
    _TRANSACTION_DEADLINES[engine] = backstop
    return engine


def create_owner_engine(database_url: str, settings: Settings | None = None) -> Engine:
    """An engine acting as the login role itself: migrations and administration."""
    settings = settings or Settings(database_url=database_url)
    engine = create_engine(
        sqlalchemy_url(database_url),
        connect_args=_connect_args(settings),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
        pool_timeout=settings.pool_timeout,
    )
    return _with_deadlines(engine, settings)


def create_app_engine(settings: Settings) -> Engine:
    """The receiver's engine: pooled, with deadlines, acting as the row-level-security role."""
    if not settings.database_url:
        raise ValueError("Settings.database_url is not set; pass a PostgreSQL URL")
    engine = create_engine(
        sqlalchemy_url(settings.database_url),
        connect_args=_connect_args(settings),
        # No SELECT 1 round trip per checkout: a connection the server closed is told by
        # its socket, and replaced (_liveness).
        pool_pre_ping=False,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=1800,
    )
    _with_deadlines(engine, settings)
    check_on_checkout(engine)

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
    deadline = _TRANSACTION_DEADLINES.get(engine)
    with database_deadline(deadline), database_errors(), engine.begin() as connection:
        project_scope(connection, project_id)
        yield connection


#: Read statements: psycopg SQL with ``%(name)s`` parameters, and the parameters.
Statements = Sequence[tuple[str, Mapping[str, Any]]]
#: The rows of each statement, in order.
Results = list[list[tuple[Any, ...]]]


def read_in_project(engine: Engine, project_id: int, statements: Statements) -> Results:
    """The rows of each read-only statement (psycopg SQL with ``%(name)s`` parameters), run
    in one read-only, repeatable-read transaction (one snapshot) bound to the project, like
    :func:`project_transaction`.

    The scope, the statements and the commit go to the database together (psycopg's
    pipeline mode) and their results come back together: one round trip, not one per
    statement, which is most of a small read's time on a busy machine.
    """

    def one_step() -> Generator[Statements, Results, Results]:
        return (yield statements)

    return read_steps_in_project(engine, project_id, one_step())


def read_steps_in_project(
    engine: Engine, project_id: int, steps: Generator[Statements, Results, T]
) -> T:
    """What ``steps`` returns: a read whose next statements depend on earlier rows.

    ``steps`` yields the statements of each step and is sent their rows. Each step is one
    round trip and one read-only, repeatable-read transaction bound to the project, as in
    :func:`read_in_project`; the steps share one pooled connection.
    """
    deadline = _TRANSACTION_DEADLINES.get(engine)
    with database_deadline(deadline), database_errors(), engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        try:
            statements = next(steps)
            while True:
                statements = steps.send(_pipelined_read(raw, project_id, statements))
        except StopIteration as done:
            return cast(T, done.value)
        except psycopg.Error:
            if raw.broken or raw.closed:
                connection.invalidate()  # not back to the pool: it would fail again
            raise


def _pipelined_read(
    raw: psycopg.Connection[Any], project_id: int, statements: Statements
) -> Results:
    """One read-only transaction of ``statements`` in one round trip (pipeline mode)."""
    # The pipeline opens the transaction itself: outside autocommit, psycopg's own BEGIN
    # waits for its answer before anything else is sent (a round trip of its own).
    raw.autocommit = True
    try:
        with raw.pipeline():
            # One snapshot for every statement: an enrichment (or a span) committed between
            # two of them must not be half visible in one answer.
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # The scope of project_scope, in the driver's own parameter style.
            raw.execute("SELECT set_config('spanlink.project_id', %s, true)", (str(project_id),))
            # Binary results: numbers reach Python without being parsed from text.
            cursors = [raw.execute(sql, params, binary=True) for sql, params in statements]
            raw.execute("COMMIT")
        return [cursor.fetchall() for cursor in cursors]
    finally:
        if not (raw.closed or raw.broken):
            if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raw.execute("ROLLBACK")  # a statement failed: the rest were skipped
            raw.autocommit = False  # as the pool hands connections out


async def run_in_project(engine: Engine, project_id: int, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a :func:`project_transaction`, in a worker thread (the event loop
    never waits on the database)."""

    def run() -> T:
        with project_transaction(engine, project_id) as connection:
            return work(connection)

    return await run_in_threadpool(run)


# SQLSTATE classes and codes that say the database (or the way to it) is in trouble, not
# this request: connection exceptions, insufficient resources, operator intervention
# (admin/crash shutdown, cannot connect now, statement timeout), system errors, and the
# transaction conflicts a retry resolves (serialization failure, deadlock, lock timeout).
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})
_UNAVAILABLE_CODES = frozenset({"40001", "40P01", "55P03"})
# Classes that say this request's data can never be stored as it is: data exceptions
# (out of range, invalid text), integrity violations, program limits (index row too big).
_REJECTED_CLASSES = {"22": 400, "23": 409, "54": 400}


def _sqlstate(error: BaseException) -> tuple[psycopg.Error | None, str | None]:
    orig = error.orig if isinstance(error, sqlalchemy.exc.DBAPIError) else error
    if isinstance(orig, psycopg.Error):
        return orig, orig.sqlstate
    return None, None


def _is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve anyone right now (answer 503).

    An error the database raised about this request's data or statement is not an outage:
    retrying it would fail the same way forever.
    """
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # pool exhausted past its deadline
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    orig, sqlstate = _sqlstate(error)
    if orig is None:
        return False
    if sqlstate is None:
        # No SQLSTATE: the client library failed (connection refused or lost, the
        # client-side deadline cut it); a server-side error always carries one.
        return isinstance(orig, (psycopg.OperationalError, psycopg.InterfaceError))
    return sqlstate[:2] in _UNAVAILABLE_CLASSES or sqlstate in _UNAVAILABLE_CODES


def _rejection_status(error: BaseException) -> int | None:
    """The HTTP status for an error caused by this request's data, or None."""
    orig, sqlstate = _sqlstate(error)
    if sqlstate is None:
        # The client library refused the data before sending it (a NUL in a text value):
        # the request's fault, like the server's class 22.
        return 400 if isinstance(orig, psycopg.DataError) else None
    return _REJECTED_CLASSES.get(sqlstate[:2])


@contextmanager
def database_errors() -> Iterator[None]:
    """Classify database errors: "cannot reach / lost the database" becomes
    :class:`DatabaseUnavailable` (retry later), "the database refuses this data" becomes
    :class:`DatabaseRejected` (retrying cannot help); anything else (a bug) propagates.
    """
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, psycopg.Error) as error:
        expired = deadline_expired()
        if expired is not None and _is_unavailable(error):
            raise DatabaseUnavailable(
                f"no answer from the database within {expired:g} s (client-side deadline)"
            ) from error
        if _is_unavailable(error):
            raise DatabaseUnavailable(_first_line(error)) from error
        status = _rejection_status(error)
        if status is not None:
            raise DatabaseRejected(_first_line(error), status) from error
        raise


def _first_line(error: BaseException) -> str:
    orig, _ = _sqlstate(error)
    text = str(orig if orig is not None else error)
    return text.splitlines()[0] if text else type(error).__name__
