"""Apply the schema migrations (alembic) and tell whether a database is current."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from spanlink.receiver.storage._engine import create_owner_engine

__all__ = ["current_revision", "head_revision", "is_current", "upgrade"]

# Serialises concurrent `migrate` runs against one database (e.g. several receivers starting).
_MIGRATION_LOCK_KEY = 0x5350414E4C4E4B


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "spanlink.receiver.storage:migrations")
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of the receiver."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def is_current(connection: Connection) -> bool:
    """True when the database is at the shipped head revision."""
    return current_revision(connection) == head_revision()


def upgrade(database_url: str) -> str:
    """Migrate the database to the newest revision; returns that revision."""
    engine = create_owner_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return current_revision(connection) or ""
    finally:
        engine.dispose()
