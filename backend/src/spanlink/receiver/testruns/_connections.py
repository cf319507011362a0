"""Endpoint connection rows: how a receiver finds the endpoints connected to the others.

Every receiver writes the connections it holds to the ``endpoint_connections`` table (the
row says which receiver holds it, and is refreshed while it does); a case is sent to a
connection of this receiver when there is one, else to a fresh row of another receiver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from spanlink.receiver.storage import bound_indexed, database_errors, project_scope, run_in_project
from spanlink.receiver.testruns.registry import EndpointConnection, EndpointRegistry

__all__ = ["CONNECTION_FRESH_S", "ConnectionRows", "Target"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: A connection row not refreshed for this long belongs to a receiver that is gone.
CONNECTION_FRESH_S = 30


@dataclass(frozen=True, slots=True)
class Target:
    """The connection chosen for a case: on this receiver (``local``) or on another one."""

    connection_id: str
    receiver_id: str
    local: EndpointConnection | None


@dataclass(eq=False)
class ConnectionRows:
    """This receiver's rows of ``endpoint_connections``, and the lookup of everyone's."""

    engine: Engine
    receiver_id: str
    registry: EndpointRegistry

    async def record(self, connection: EndpointConnection) -> None:
        """Announce a registered connection to the other receivers (a warning when the
        database does not answer: the local registry still works; other receivers wait)."""
        row = {
            "id": connection.id,
            "p": connection.project_id,
            "r": self.receiver_id,
            # Indexed: bounded as ingest bounds its indexed columns (and as _find_remote looks).
            "env": bound_indexed(connection.environment),
            "functions": json.dumps(sorted(connection.functions)),
            "instance": connection.instance_id,
            "sdk": connection.sdk,
            "sdk_version": connection.sdk_version,
            "meta": json.dumps(
                {
                    "specs": [spec.to_dict() for spec in connection.functions.values()],
                    "client": connection.metadata,
                },
                ensure_ascii=False,
                default=str,
            ),
        }

        def upsert(db: Connection) -> None:
            db.execute(
                text(
                    "INSERT INTO endpoint_connections (id, project_id, receiver_id, environment, "
                    "functions, instance_id, sdk, sdk_version, metadata) VALUES (:id, :p, :r, "
                    ":env, CAST(:functions AS jsonb), :instance, :sdk, :sdk_version, "
                    "CAST(:meta AS jsonb)) ON CONFLICT (id) DO UPDATE SET "
                    "environment = excluded.environment, functions = excluded.functions, "
                    "metadata = excluded.metadata, last_seen = now()"
                ),
                row,
            )

        try:
            await run_in_project(self.engine, connection.project_id, upsert)
        except Exception as error:  # the local registry still works; other receivers wait
            logger.warning("spanlink: could not record endpoint connection: %s", error)

    async def delete(self, project_id: int, connection_id: str) -> None:
        """Forget one connection's row (it closed, or it is gone)."""
        await run_in_project(
            self.engine, project_id, lambda db: _forget_connection(db, connection_id)
        )

    def forget_all(self, projects: Collection[int]) -> None:
        """Forget every row of this receiver (it stops). Synchronous."""
        with database_errors():
            for project_id in projects:
                with self.engine.begin() as connection:
                    project_scope(connection, project_id)
                    connection.execute(
                        text("DELETE FROM endpoint_connections WHERE receiver_id = :r"),
                        {"r": self.receiver_id},
                    )

    async def refresh(self) -> None:
        """Mark this receiver's rows as alive (a warning per project that fails)."""
        for project_id in {c.project_id for c in self.registry}:

            def refresh(db: Connection) -> None:
                db.execute(
                    text(
                        "UPDATE endpoint_connections SET last_seen = now() WHERE receiver_id = :r"
                    ),
                    {"r": self.receiver_id},
                )

            try:
                await run_in_project(self.engine, project_id, refresh)
            except Exception as error:
                logger.warning("spanlink: refreshing endpoint connections failed: %s", error)

    # ------------------------------------------------------------------ choosing an endpoint

    def _find_remote(
        self, db: Connection, project_id: int, environment: str | None, function: str
    ) -> tuple[str, str] | None:
        row = db.execute(
            text(
                "SELECT id, receiver_id FROM endpoint_connections WHERE project_id = :p "
                "AND environment IS NOT DISTINCT FROM :env AND receiver_id <> :me "
                "AND functions ? :function "
                f"AND last_seen > now() - interval '{CONNECTION_FRESH_S} seconds' "
                "ORDER BY random() LIMIT 1"
            ),
            {
                "p": project_id,
                "env": bound_indexed(environment),
                "me": self.receiver_id,
                "function": function,
            },
        ).first()
        return (row[0], row[1]) if row else None

    async def target(
        self, project_id: int, environment: str | None, function: str
    ) -> Target | None:
        """A connection offering ``function``: this receiver's least busy one, else a fresh
        row of another receiver; None when there is none."""
        local = self.registry.find(project_id, environment, function)
        if local is not None:
            return Target(local.id, self.receiver_id, local)
        remote = await run_in_project(
            self.engine,
            project_id,
            lambda db: self._find_remote(db, project_id, environment, function),
        )
        return Target(remote[0], remote[1], None) if remote else None

    def _available(self, db: Connection, project_id: int, function: str) -> list[str | None]:
        rows = db.execute(
            text(
                "SELECT DISTINCT environment FROM endpoint_connections WHERE project_id = :p "
                "AND functions ? :function "
                f"AND last_seen > now() - interval '{CONNECTION_FRESH_S} seconds'"
            ),
            {"p": project_id, "function": function},
        )
        return [row[0] for row in rows]

    async def describe_missing(
        self, project_id: int, environment: str | None, function: str
    ) -> str:
        """Why no endpoint was found, and what to do."""
        elsewhere = await run_in_project(
            self.engine, project_id, lambda db: self._available(db, project_id, function)
        )
        where = f"environment {environment!r}" if environment else "no environment"
        message = f"no connected endpoint offers the function {function!r} in {where}"
        if elsewhere:
            names = ", ".join(repr(env) if env else "no environment" for env in elsewhere)
            return f"{message}; it is connected in: {names} (set 'environment')"
        return (
            f"{message}; start the application with spanlink.endpoint.connect(...) and the "
            "project's API key, and decorate the function with @endpoint"
        )


def _forget_connection(db: Connection, connection_id: str) -> None:
    db.execute(text("DELETE FROM endpoint_connections WHERE id = :id"), {"id": connection_id})
