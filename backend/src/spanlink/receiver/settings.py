"""Receiver configuration, read from ``SPANLINK_*`` environment variables.

Explicit constructor arguments win over the environment, e.g.
``Settings(database_url="postgresql://...")``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from spanlink.receiver._env import SETTINGS_PREFIX

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything the receiver needs to run; each field maps to ``SPANLINK_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=SETTINGS_PREFIX, extra="ignore")

    #: Postgres URL (``postgresql://user@host:port/db``). ``None``: the embedded server is used
    #: by the CLI; ``create_app`` needs a URL.
    database_url: str | None = None
    #: Largest accepted request body as sent (compressed), in bytes.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    #: Largest accepted body after decompression, in bytes (guards against gzip bombs).
    max_decompressed_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    #: Most spans in one ingest request (more: 413 naming the limit). Memory per request
    #: grows with the spans it holds; OpenTelemetry SDKs send 512 per batch.
    max_spans_per_request: int = Field(default=20_000, gt=0)
    #: Most nested values (attributes, events, links, array and map elements) in one span,
    #: resource or scope of an ingest request (more: 413).
    max_values_per_span: int = Field(default=100_000, gt=0)
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
    #: Client-side deadline, in seconds, for the database work of one API request (ingest:
    #: the whole write; the API-key lookup) and of any one transaction: a database that
    #: stops answering yields 503 + ``Retry-After`` by then. Also TCP ``tcp_user_timeout``.
    database_deadline_s: float = Field(default=10.0, gt=0)
    #: Seconds a resolved API key is cached in memory.
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    #: How long a receiver keeps a project's redaction rules before reading them again (a
    #: ``PUT`` on this receiver applies at once; on others within this time).
    redaction_cache_seconds: float = Field(default=5.0, ge=0)

    # Enrichment (``spanlink.receiver.enrichment``).
    #: Where traces are enriched: ``inprocess`` (asyncio workers in this process), ``celery``
    #: (sent to ``spanlink-receiver worker`` over ``broker_url``) or ``off``.
    enrichment: Literal["inprocess", "celery", "off"] = "inprocess"
    #: A trace is enriched once no span arrived for it during this many milliseconds.
    enrichment_debounce_ms: float = Field(default=50.0, ge=0, le=60_000)
    #: Traces waiting for enrichment; beyond it, traces are enriched by the fallback threads.
    enrichment_queue_size: int = Field(default=10_000, gt=0)
    #: In-process enrichment workers (each enriches one trace at a time).
    enrichment_workers: int = Field(default=2, gt=0, le=64)
    #: Per-trace time budget in seconds; a plugin still running then is recorded as timed out.
    enrichment_timeout: float = Field(default=5.0, gt=0)
    #: History the p95 duration baselines of span names are computed over, in hours.
    enrichment_baseline_hours: float = Field(default=168.0, gt=0)
    #: Seconds a project's baselines are reused before being recomputed.
    enrichment_baseline_cache_seconds: float = Field(default=30.0, ge=0)
    #: Celery broker URL (``redis://host:6379/0``) when ``enrichment`` is ``celery``.
    broker_url: str | None = None
    #: Celery queue the enrichment tasks are sent to and the workers consume.
    celery_queue: str = "spanlink-enrichment"
    #: Plugin settings by plugin name, handed to the plugins as ``context["config"]``
    #: (JSON in ``SPANLINK_ENRICHMENT_PLUGIN_CONFIG``, e.g. ``{"anomaly": {...}}``).
    enrichment_plugin_config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Full-text search indexing (``spanlink.receiver.search``).
    #: Index stored spans for search in this process (every receiver process may; they
    #: share the queue). Off, spans are still found, by computing their vectors per search.
    search_indexer: bool = True
    #: Batches this process indexes at once (each one Postgres backend while it runs).
    search_index_workers: int = Field(default=2, ge=1, le=16)
    #: Seconds between looks at the search queue when this process queued nothing.
    search_index_interval_s: float = Field(default=1.0, gt=0, le=3600)
    #: Deadline of one indexed batch's statement (at most 512 spans), in seconds.
    search_index_deadline_s: float = Field(default=10.0, gt=0, le=600)
    #: Linking strategy name (``hybrid`` or ``trace_id``; plugins may add more).
    linking_strategy: str = "hybrid"
    #: Seconds between orphan sweeps (spans with a test run and case but no result).
    linking_sweep_interval_s: float = Field(default=30.0, gt=0)
    #: Seconds a span may stay unlinked before the orphan sweep looks at it.
    linking_grace_s: float = Field(default=10.0, ge=0)
    #: Seconds between the receiver's application-level pings on endpoint WebSockets; a
    #: connection silent for three intervals is closed.
    endpoint_heartbeat_interval_s: float = Field(default=15.0, gt=0)
    #: Largest endpoint WebSocket message accepted, in UTF-8 bytes.
    endpoint_max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Messages per second one endpoint connection may send (bursts of twice as many).
    endpoint_rate_limit_per_s: float = Field(default=200.0, gt=0)

    # Evaluation of receiver-driven runs' results (``spanlink.receiver.evaluation``).
    #: Where evaluators run: ``inprocess`` (this receiver, bounded) or ``celery`` (sent to
    #: ``spanlink-receiver worker --evaluation`` over ``broker_url``; in-process while the
    #: broker is down).
    evaluation: Literal["inprocess", "celery"] = "inprocess"
    #: Results evaluated at the same time by this receiver.
    evaluation_concurrency: int = Field(default=8, gt=0, le=256)
    #: Seconds one evaluator may take before its score records a timeout.
    evaluation_timeout_s: float = Field(default=30.0, gt=0, le=600)
    #: Trace evaluators run once no span was linked to the result (and its traces were
    #: enriched) for this many seconds ...
    evaluation_settle_s: float = Field(default=0.2, ge=0, le=60)
    #: ... or after this many seconds at most.
    evaluation_settle_timeout_s: float = Field(default=10.0, ge=0, le=600)
    #: A span linked to an evaluated result within this many seconds re-runs its evaluators.
    evaluation_grace_s: float = Field(default=5.0, ge=0, le=600)
    #: Celery queue of the evaluation tasks.
    evaluation_celery_queue: str = "spanlink-evaluation"

    def to_environment(self) -> dict[str, str]:
        """The ``SPANLINK_*`` variables that rebuild these settings in another process.

        Only the fields given explicitly (or read from the environment) are exported; the
        others keep their defaults there too.
        """
        environment: dict[str, str] = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is None:
                continue
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            environment[f"{SETTINGS_PREFIX}{name.upper()}"] = text
        return environment
