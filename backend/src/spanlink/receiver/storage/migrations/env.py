"""Alembic environment: runs on the connection ``spanlink.receiver.storage.upgrade`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from spanlink.receiver.storage._tables import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only ``spanlink.receiver.storage._migrate`` runs us
    raise RuntimeError("run migrations with `spanlink-receiver migrate`")

context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
