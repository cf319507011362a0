"""API keys: generated once, stored only as a SHA-256 hash, resolved to a project."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import Engine, select

from spanlink.receiver.schema import api_keys

__all__ = ["KEY_PREFIX", "KeyResolver", "generate_key", "hash_key"]

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

    def resolve(self, key: str) -> int | None:
        """The project id of an active key, or None. Raises on database errors."""
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
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
