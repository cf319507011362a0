"""Projects and their API keys: created, stored only as a SHA-256 hash, resolved to a project."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from spanlink.receiver.storage._engine import create_owner_engine
from spanlink.receiver.storage._tables import api_keys, projects

__all__ = [
    "KEY_PREFIX",
    "KeyResolver",
    "create_api_key",
    "create_project",
    "generate_key",
    "hash_key",
]

KEY_PREFIX = "slk_"


def generate_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key. Keys are random, so a fast hash is enough (no dictionary)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class KeyResolver:
    """Resolves a presented key to its project id, with a short in-memory cache."""

    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, int | None]:
        """``(True, project id or None)`` when the key's answer is cached and fresh, else
        ``(False, None)``: no database, so an event loop may ask."""
        with self._lock:
            cached = self._cache.get(hash_key(key))
        if cached is not None and cached[1] > time.monotonic():
            return True, cached[0]
        return False, None

    def resolve(self, key: str) -> int | None:
        """The project id of an active key, or None. Raises on database errors."""
        hit, project_id = self.cached(key)
        if hit:
            return project_id
        digest = hash_key(key)
        now = time.monotonic()
        with self._engine.connect() as connection:
            project_id = connection.execute(
                select(api_keys.c.project_id).where(
                    api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
                )
            ).scalar_one_or_none()
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: forget everything rather than grow
                self._cache.clear()
            self._cache[digest] = (project_id, now + self._cache_seconds)
        return project_id


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
