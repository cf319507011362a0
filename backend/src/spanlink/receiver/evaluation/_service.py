"""The evaluation service: judges receiver-driven runs' results off the request path.

Flow: the test-run service stores a result whose case has evaluators (or an expected
output) as ``evaluating`` and calls :meth:`EvaluationService.submit`. A task then
- waits, when an evaluator reads the trace, until the result's linked spans have settled:
  no new span for ``evaluation_settle_s`` and every linked trace enriched, or
  ``evaluation_settle_timeout_s`` at most;
- judges it (``aevaluate_case``: each evaluator under ``evaluation_timeout_s``, at most
  ``evaluation_concurrency`` results at once) or hands it to a Celery worker;
- stores the scores and the status (:mod:`._load`).
A result with trace evaluators is then watched for ``evaluation_grace_s``: a span linked to
it meanwhile (one that arrived late) re-runs its evaluators, at most ``MAX_RERUNS`` times.
The receiver executing a run waits for its results' verdicts (:meth:`wait_run`, bounded)
before it finishes the run. Nothing here raises into a run: an evaluator that fails is a
score with an error, and a verdict that cannot be reached in time closes the case
``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.evaluation import _load
from spanlink.receiver.evaluation._registry import EvaluatorRegistry
from spanlink.receiver.redaction import EMPTY_RULES, CompiledRules, RulesCache
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import project_transaction
from spanlink.tracer.evaluation import aevaluate_case, evaluate_case
from spanlink.tracer.model import Trace

__all__ = ["MAX_PENDING", "MAX_RERUNS", "EvaluationService"]

logger = logging.getLogger("spanlink.receiver.evaluation")

T = TypeVar("T")

#: Results waiting for (or in) evaluation on one receiver; beyond it a result is closed
#: ``error`` at once instead of queueing without bound.
MAX_PENDING = 20_000
#: How often one result is evaluated again for late spans.
MAX_RERUNS = 3
#: Seconds between looks at the linked spans (settling, late spans, waiting runs).
POLL_S = 0.05
WATCH_POLL_S = 0.25


@dataclass(slots=True)
class _Watch:
    project_id: int
    span_count: int
    until: float
    reruns: int = 0


class EvaluationService:
    """Evaluates results on this receiver (or through Celery); see the module docs."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        registry: EvaluatorRegistry,
        redaction: RulesCache | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry
        self.redaction = redaction
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watched: dict[str, _Watch] = {}
        self._waiting: set[asyncio.Event] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._remote: Any = None
        self.stats = {"evaluated": 0, "reruns": 0, "failed": 0, "overloaded": 0, "celery": 0}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the late-span watcher (and the Celery sender when configured)."""
        self._slots = asyncio.Semaphore(self.settings.evaluation_concurrency)
        self._watcher = asyncio.ensure_future(self._watch_loop())
        if self.settings.evaluation == "celery":
            from spanlink.receiver.evaluation._celery import EvaluationSender

            if not self.settings.broker_url:
                raise ValueError(
                    "evaluation=celery needs a broker: set SPANLINK_BROKER_URL (redis://...)"
                )
            self._remote = EvaluationSender(
                self.settings.broker_url, self.settings.evaluation_celery_queue
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and cancel evaluations still running (their cases stay
        ``evaluating`` and are closed by the run's executor or the sweep)."""
        tasks = [t for t in (self._watcher, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self._remote is not None:
            self._remote.close()

    # ------------------------------------------------------------------ helpers

    async def _db(self, project_id: int, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with project_transaction(self.engine, project_id) as connection:
                return work(connection)

        return await run_in_threadpool(run)

    def _rules(self, project_id: int) -> CompiledRules:
        return self.redaction.get(project_id) if self.redaction is not None else EMPTY_RULES

    def _needs_trace(self, job: _load.ResultToJudge) -> bool:
        found = self.registry.evaluators()
        return any(getattr(found.get(c.name), "needs_trace", False) for c in job.configs)

    # ------------------------------------------------------------------ submitting

    def submit(self, project_id: int, result_id: str) -> None:
        """Evaluate the result in the background (call on the service's event loop)."""
        if result_id in self._tasks:
            return
        if len(self._tasks) >= MAX_PENDING:
            self.stats["overloaded"] += 1
            task = asyncio.ensure_future(
                self._give_up(
                    project_id,
                    result_id,
                    "EvaluationOverloaded: too many results "
                    "waiting for evaluation on this receiver",
                )
            )
        else:
            task = asyncio.ensure_future(self._evaluate(project_id, result_id))
        self._tasks[result_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(result_id, None))

    async def _give_up(self, project_id: int, result_id: str, reason: str) -> None:
        from spanlink.tracer.evaluation import CaseEvaluation
        from spanlink.tracer.model import Score

        job = await self._db(project_id, lambda db: _load.load_result(db, project_id, result_id))
        if job is None:
            return
        verdict = CaseEvaluation("error", (Score(name="evaluation", error=reason),))
        await self._store(project_id, job, verdict, 0)

    async def _store(
        self, project_id: int, job: _load.ResultToJudge, verdict: Any, span_count: int
    ) -> bool:
        rules = await run_in_threadpool(self._rules, project_id)
        stored = await self._db(
            project_id,
            lambda db: _load.store_verdict(db, project_id, job, verdict, rules, span_count),
        )
        for waiter in self._waiting:
            waiter.set()
        return stored

    # ------------------------------------------------------------------ evaluating

    async def _settle(self, project_id: int, result_id: str) -> int:
        """Wait until the result's linked spans settled (bounded); returns their count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.evaluation_settle_timeout_s
        quiet = self.settings.evaluation_settle_s
        wait_enrichment = self.settings.enrichment != "off"
        last, since = -1, loop.time()
        while True:
            count, enriched = await self._db(
                project_id, lambda db: _load.linked_state(db, project_id, result_id)
            )
            now = loop.time()
            if count != last:
                last, since = count, now
            elif (enriched or not wait_enrichment) and now - since >= quiet:
                return count
            if now >= deadline:
                return count
            await asyncio.sleep(POLL_S)

    async def _evaluate(self, project_id: int, result_id: str) -> None:
        try:
            await self._evaluate_once(project_id, result_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never leave the case waiting silently
            self.stats["failed"] += 1
            logger.exception("spanlink: evaluating result %s failed", result_id)
            with contextlib.suppress(Exception):
                await self._give_up(
                    project_id, result_id, f"EvaluationFailed: {type(error).__name__}: {error}"
                )

    async def _evaluate_once(self, project_id: int, result_id: str) -> None:
        job = await self._db(project_id, lambda db: _load.load_result(db, project_id, result_id))
        if job is None:
            return
        needs_trace = await run_in_threadpool(self._needs_trace, job)
        span_count = await self._settle(project_id, result_id) if needs_trace else 0
        # Sending talks to the broker (bounded by its socket timeouts): off the event loop.
        remote = self._remote
        if remote is not None and await run_in_threadpool(
            remote.send, project_id, result_id, span_count
        ):
            self.stats["celery"] += 1
        else:
            assert self._slots is not None
            async with self._slots:
                trace, enrichment = await self._load_linked(project_id, result_id, needs_trace)
                verdict = await aevaluate_case(
                    job.configs,
                    job.case,
                    job.output,
                    trace,
                    evaluators=await run_in_threadpool(self.registry.evaluators),
                    enrichment=enrichment,
                    timeout_s=self.settings.evaluation_timeout_s,
                )
            if not await self._store(project_id, job, verdict, span_count):
                return
            self.stats["evaluated"] += 1
        if needs_trace and self.settings.evaluation_grace_s > 0:
            watch = self._watched.get(result_id)
            until = time.monotonic() + self.settings.evaluation_grace_s
            if watch is None:
                self._watched[result_id] = _Watch(project_id, span_count, until)
            else:
                watch.span_count = span_count

    async def _load_linked(
        self, project_id: int, result_id: str, needs_trace: bool
    ) -> tuple[Trace | None, dict[str, Any] | None]:
        if not needs_trace:
            return None, None
        return await self._db(project_id, lambda db: _load.load_linked(db, project_id, result_id))

    def evaluate_now(self, project_id: int, result_id: str, span_count: int = 0) -> bool:
        """Judge one result now and store the verdict (a Celery worker's task; blocks).

        The sender has waited for the spans to settle already. False when the result is
        not waiting for a verdict (any more).
        """
        with project_transaction(self.engine, project_id) as db:
            job = _load.load_result(db, project_id, result_id)
            if job is None:
                return False
            trace, enrichment = (
                _load.load_linked(db, project_id, result_id)
                if self._needs_trace(job)
                else (None, None)
            )
        verdict = evaluate_case(
            job.configs,
            job.case,
            job.output,
            trace,
            evaluators=self.registry.evaluators(),
            enrichment=enrichment,
            timeout_s=self.settings.evaluation_timeout_s,
        )
        rules = self._rules(project_id)
        with project_transaction(self.engine, project_id) as db:
            return _load.store_verdict(db, project_id, job, verdict, rules, span_count)

    # ------------------------------------------------------------------ late spans

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_POLL_S)
            try:
                await self._watch_once()
            except Exception as error:  # the next round tries again
                logger.warning("spanlink: watching evaluated results for late spans: %s", error)

    async def _watch_once(self) -> None:
        now = time.monotonic()
        for result_id in [r for r, w in self._watched.items() if w.until < now]:
            del self._watched[result_id]
        by_project: dict[int, list[str]] = {}
        for result_id, watch in self._watched.items():
            if result_id not in self._tasks:  # not being (re-)evaluated right now
                by_project.setdefault(watch.project_id, []).append(result_id)
        for project_id, result_ids in by_project.items():
            count = partial(_load.linked_counts, project_id=project_id, result_ids=result_ids)
            counts = await self._db(project_id, count)
            for result_id in result_ids:
                watched = self._watched.get(result_id)
                if watched is None or counts.get(result_id, 0) <= watched.span_count:
                    continue
                watch = watched
                watch.span_count = counts.get(result_id, 0)
                watch.reruns += 1
                if watch.reruns > MAX_RERUNS:
                    del self._watched[result_id]
                    continue
                self.stats["reruns"] += 1
                self.submit(project_id, result_id)

    # ------------------------------------------------------------------ runs

    async def wait_run(self, project_id: int, run_id: str, timeout_s: float) -> int:
        """Wait until no result of the run waits for a verdict, at most ``timeout_s``; the
        ones still waiting then are closed ``error``. Returns how many were closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        verdict = asyncio.Event()  # set by every verdict stored here; others are polled
        self._waiting.add(verdict)
        try:
            while True:
                verdict.clear()
                waiting = await self._db(
                    project_id, lambda db: _load.evaluating_count(db, project_id, run_id)
                )
                if waiting == 0:
                    return 0
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(verdict.wait(), min(remaining, 0.5))
        finally:
            self._waiting.discard(verdict)
        reason = f"EvaluationTimeout: no verdict within {timeout_s:g} s; the case was not judged"
        return await self._db(
            project_id, lambda db: _load.close_unevaluated(db, project_id, run_id, reason)
        )

    def close_stale(self, connection: Connection) -> int:
        """Close the project's results left ``evaluating`` well past any run's deadline
        (the receiver judging them went away); for the periodic sweep."""
        return _load.close_stale(connection, 2 * self.run_deadline())

    def run_deadline(self) -> float:
        """How long a run waits for its last verdicts: settling, two evaluator deadlines
        (a case's evaluators run concurrently, sync ones in one batch first) and a margin."""
        settings = self.settings
        return settings.evaluation_settle_timeout_s + 2 * settings.evaluation_timeout_s + 10.0
