"""Receiver configuration, read from ``SPANLINK_*`` environment variables.

Explicit constructor arguments win over the environment, e.g.
``Settings(database_url="postgresql://...")``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything the receiver needs to run; each field maps to ``SPANLINK_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SPANLINK_", extra="ignore")

    #: Postgres URL (``postgresql://user@host:port/db``). ``None``: the embedded server is used
    #: by the CLI; ``create_app`` needs a URL.
    database_url: str | None = None
    #: Largest accepted request body as sent (compressed), in bytes.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    #: Largest accepted body after decompression, in bytes (guards against gzip bombs).
    max_decompressed_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    #: Ingest requests written at the same time; more wait up to ``ingest_queue_timeout``.
    max_concurrent_ingest: int = Field(default=8, gt=0)
    #: Seconds an ingest request waits for a free slot before answering 503.
    ingest_queue_timeout: float = Field(default=2.0, ge=0)
    #: ``Retry-After`` seconds sent with 503 (database unreachable or ingest queue full).
    retry_after_seconds: int = Field(default=5, ge=1)
    #: Database connection pool size (and overflow on top of it).
    pool_size: int = Field(default=10, gt=0)
    pool_max_overflow: int = Field(default=5, ge=0)
    #: Seconds to wait for a pooled connection, and to open a new one.
    pool_timeout: float = Field(default=5.0, gt=0)
    connect_timeout: int = Field(default=3, gt=0)
    #: Server-side deadline for one statement, in milliseconds.
    statement_timeout_ms: int = Field(default=30_000, gt=0)
    #: Seconds a resolved API key is cached in memory.
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
