"""Alembic environment: runs on the connection handed over by ``spanlink.receiver.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from spanlink.receiver.schema import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only ``spanlink.receiver.migrate`` runs us
    raise RuntimeError("run migrations with `spanlink-receiver migrate`")

context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
