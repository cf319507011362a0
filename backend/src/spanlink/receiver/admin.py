"""Administration: projects and API keys (used by the CLI and by tests)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from spanlink.receiver.db import create_owner_engine
from spanlink.receiver.keys import KEY_PREFIX, generate_key, hash_key
from spanlink.receiver.schema import api_keys, projects

__all__ = ["create_api_key", "create_project"]


def _ensure_project(connection: Connection, name: str) -> int:
    if not name or len(name) > 200:
        raise ValueError("a project name is 1 to 200 characters")
    connection.execute(pg_insert(projects).values(name=name).on_conflict_do_nothing())
    project_id = connection.execute(
        select(projects.c.id).where(projects.c.name == name)
    ).scalar_one()
    return int(project_id)


def create_project(database_url: str, name: str) -> int:
    """Create the project ``name`` (or find it) and return its id."""
    engine = create_owner_engine(database_url)
    try:
        with engine.begin() as connection:
            return _ensure_project(connection, name)
    finally:
        engine.dispose()


def create_api_key(database_url: str, project_name: str) -> str:
    """Create an API key for a project (created if missing); the plaintext is returned once."""
    key = generate_key()
    engine = create_owner_engine(database_url)
    try:
        with engine.begin() as connection:
            project_id = _ensure_project(connection, project_name)
            connection.execute(
                insert(api_keys).values(
                    project_id=project_id,
                    key_hash=hash_key(key),
                    prefix=key[: len(KEY_PREFIX) + 6],
                )
            )
    finally:
        engine.dispose()
    return key
