"""The receiver's enrichment service: queue, in-process workers, fallbacks, Celery hand-off.

Flow: an ingest transaction commits -> :meth:`EnrichmentService.on_commit` queues its
traces (bounded, de-duplicated per project and trace) -> once a trace has been quiet for
the debounce, a worker task enriches it on a thread (loading the spans, the project's
prices and baselines, running the plugins, storing one row per trace), or hands it to a
Celery worker. Nothing here ever fails or delays the ingest request: a full queue sends
traces to a small bounded pool of fallback threads instead, and every failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from spanlink.receiver.enrichment._celery import CeleryExecutor
from spanlink.receiver.enrichment._executors import Executor, InProcessExecutor
from spanlink.receiver.enrichment._queue import DebounceQueue, TraceKey
from spanlink.receiver.enrichment._runner import (
    EnrichmentResult,
    PluginRunner,
    PluginSet,
    default_plugins,
)
from spanlink.receiver.enrichment._store import (
    BaselineCache,
    enrichment_state,
    load_trace,
    save_enrichment,
)
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import DatabaseUnavailable, project_transaction
from spanlink.tracer.model import SpanRecord

__all__ = ["EnrichmentService"]

logger = logging.getLogger("spanlink.receiver.enrichment")

#: Traces enriched at the same time by the queue-full fallback; beyond it they are skipped
#: (and enriched on the next ``GET ...?sync=true`` or when more spans arrive).
FALLBACK_THREADS = 2
FALLBACK_MAX_PENDING = 256
#: Budget of the warm-up run (plugins load their data on first use).
WARM_UP_TIMEOUT = 30.0


class EnrichmentService:
    """Enriches the traces of one receiver; see the module docstring for the flow."""

    def __init__(
        self, settings: Settings, engine: Engine, plugins: PluginSet | None = None
    ) -> None:
        if settings.enrichment == "celery" and not settings.broker_url:
            raise ValueError(
                "enrichment=celery needs a broker: pass --broker redis://HOST:6379/0 "
                "or set SPANLINK_BROKER_URL"
            )
        self.settings = settings
        self.engine = engine
        self._plugins = plugins
        self._runner: PluginRunner | None = None
        self._runner_lock = threading.Lock()
        self.baselines = BaselineCache(
            settings.enrichment_baseline_cache_seconds, settings.enrichment_baseline_hours
        )
        self.queue = DebounceQueue(
            settings.enrichment_queue_size, settings.enrichment_debounce_ms / 1000.0
        )
        self.stats: dict[str, int] = {
            "queued": 0,
            "enriched": 0,
            "failed": 0,
            "fallback": 0,
            "skipped": 0,
            "celery_sent": 0,
            "celery_unavailable": 0,
        }
        self._stats_lock = threading.Lock()
        self._remote: Executor | None = None
        self._in_process = InProcessExecutor(self._enrich_logged)
        self._workers: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._fallback = ThreadPoolExecutor(FALLBACK_THREADS, "spanlink-enrich-fallback")
        self._fallback_pending = 0
        self._ready: asyncio.Future[Any] | None = None
        self._started = False
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ plugins

    def use_plugins(self, plugins: PluginSet) -> None:
        """Run these plugins instead of the entry points of group ``spanlink``."""
        with self._runner_lock:
            if self._runner is not None:
                self._runner.close()
                self._runner = None
            self._plugins = plugins

    @property
    def runner(self) -> PluginRunner:
        """The plugin runner (plugins are loaded on first use)."""
        with self._runner_lock:
            if self._runner is None:
                self._runner = PluginRunner(self._plugins or default_plugins())
            return self._runner

    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[name] += n

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    # ------------------------------------------------------------------ enrich one trace

    def enrich_now(self, project_id: int, trace_id: str) -> EnrichmentResult | None:
        """Enrich one trace and store the result; None when the trace has no spans.

        Blocks for at most the per-trace budget plus the database round trips. Raises
        ``DatabaseUnavailable`` when the database cannot be reached.
        """
        with project_transaction(self.engine, project_id) as connection:
            found = load_trace(connection, project_id, trace_id)
            if not found.spans:
                return None
            baselines = self.baselines.get(
                connection, project_id, (span.name for span in found.spans)
            )
        context: dict[str, Any] = {
            "project": {"id": project_id, "name": found.project_name},
            "prices": found.prices,
            "config": self.settings.enrichment_plugin_config,
            "baselines": baselines,
        }
        result = self.runner.run(found.spans, context, self.settings.enrichment_timeout)
        for name, message in result.data["errors"].items():
            # Recorded in every affected trace; logged once per plugin so logs stay readable.
            self._warn_once(
                f"plugin:{name}",
                "enrichment plugin %r failed on trace %s (project %s): %s. Its errors are "
                "recorded under its name in each trace's enrichment; logged once.",
                name,
                trace_id,
                project_id,
                message,
            )
        with project_transaction(self.engine, project_id) as connection:
            save_enrichment(
                connection,
                project_id,
                trace_id,
                result.data,
                result.plugin_versions,
                result.span_count,
            )
        self._count("enriched")
        return result

    def ensure_fresh(self, project_id: int, trace_id: str) -> bool:
        """Enrich the trace now if it has no enrichment or one older than its spans.

        Returns True when it was (re)computed. The ``?sync=true`` path of the trace API.
        """
        with project_transaction(self.engine, project_id) as connection:
            state = enrichment_state(connection, project_id, trace_id)
        if state is None:
            return False
        spans, enriched = state
        if enriched is not None and enriched >= spans:
            return False
        return self.enrich_now(project_id, trace_id) is not None

    def _enrich_logged(self, project_id: int, trace_id: str) -> None:
        try:
            self.enrich_now(project_id, trace_id)
            self._warned.discard("database")  # reachable again: log the next outage too
        except DatabaseUnavailable as error:
            self._count("failed")
            self._warn_once(
                "database",
                "enrichment skipped: database unavailable (%s); traces are enriched again "
                "when new spans arrive or on GET ...?sync=true",
                error,
            )
        except Exception:
            self._count("failed")
            logger.exception("enrichment of trace %s (project %s) failed", trace_id, project_id)

    def _process(self, key: TraceKey) -> None:
        remote = self._remote
        if remote is not None:
            if remote.send(*key):
                self._count("celery_sent")
                return
            self._count("celery_unavailable")
        self._in_process.send(*key)

    # ------------------------------------------------------------------ ingest hook

    def on_commit(self, project_id: int, trace_ids: Any) -> None:
        """Commit listener: queue the batch's traces (called on the event loop, never blocks)."""
        if self.settings.enrichment == "off":
            return
        for trace_id in trace_ids:
            key = (project_id, str(trace_id))
            if self._started and self.queue.offer(key):
                self._count("queued")
            else:
                self._fallback_submit(key)

    def _fallback_submit(self, key: TraceKey) -> None:
        with self._stats_lock:
            if self._fallback_pending >= FALLBACK_MAX_PENDING:
                self.stats["skipped"] += 1
                full = True
            else:
                self._fallback_pending += 1
                self.stats["fallback"] += 1
                full = False
        if full:
            self._warn_once(
                "skipped",
                "enrichment queue and fallback are full: some traces are not enriched now "
                "(raise SPANLINK_ENRICHMENT_QUEUE_SIZE or add workers; "
                "GET /api/v1/traces/{id}?sync=true enriches one on demand)",
            )
            return
        self._warn_once(
            "fallback",
            "enrichment queue full (%d traces): enriching directly on fallback threads",
            self.queue.maxsize,
        )

        def run() -> None:
            try:
                self._process(key)
            finally:
                with self._stats_lock:
                    self._fallback_pending -= 1

        try:
            self._fallback.submit(run)
        except RuntimeError:  # shut down
            with self._stats_lock:
                self._fallback_pending -= 1

    # ------------------------------------------------------------------ lifecycle

    def warm_up(self) -> None:
        """Load the plugins and let them load their data, before the first real trace."""
        now = time.time_ns()
        span = SpanRecord(
            trace_id="0" * 31 + "1",
            span_id="0" * 15 + "1",
            name="chat gpt-4o-mini",
            start_time_unix_nano=now - 1_000_000,
            end_time_unix_nano=now,
            kind="CLIENT",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 10,
            },
        )
        try:
            self.runner.run([span], {}, WARM_UP_TIMEOUT)
        except Exception:
            logger.exception("enrichment warm-up failed")

    async def start(self) -> None:
        """Start the workers (and the Celery executor); called by the app's lifespan."""
        if self._started or self.settings.enrichment == "off":
            return
        settings = self.settings
        if settings.enrichment == "celery" and settings.broker_url:
            self._remote = CeleryExecutor(settings.broker_url, settings.celery_queue)
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(settings.enrichment_workers, "spanlink-enrich")
        self._ready = loop.run_in_executor(self._executor, self.warm_up)
        self._workers = [
            asyncio.create_task(self._work(), name=f"spanlink-enrich-{i}")
            for i in range(settings.enrichment_workers)
        ]
        self._started = True

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._ready is not None and self._executor is not None
        await asyncio.shield(self._ready)
        while True:
            key = await self.queue.get()
            try:
                await loop.run_in_executor(self._executor, self._process, key)
            except Exception:
                logger.exception("enrichment worker failed on %s", key)
            finally:
                self.queue.done(key)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; returns within about ``timeout`` seconds."""
        self._started = False
        for task in self._workers:
            task.cancel()
        if self._workers:
            await asyncio.wait(self._workers, timeout=timeout)
        self._workers = []
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._fallback.shutdown(wait=False, cancel_futures=True)
        if self._remote is not None:
            self._remote.close()
            self._remote = None
        with self._runner_lock:
            if self._runner is not None:
                self._runner.close()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests, benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not len(self.queue) and not self.queue.running and not self._fallback_pending:
                return True
            await asyncio.sleep(0.01)
        return False
