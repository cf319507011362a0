"""Run evaluators on one test result: the runner the receiver and the pytest plugin share.

``find_evaluators`` collects the evaluators installed plugins provide (hook
``spanlink_evaluators``), ``validate_configs`` refuses a bad configuration with one error
listing every problem (call it when a run or dataset is created), and ``evaluate_case``
(or ``aevaluate_case`` inside an event loop) judges one result.

The runner never raises for a bad evaluator and never hangs: each evaluator runs under
its own deadline (sync ones on a bounded worker pool, async ones on an event loop), and one
that raises, times out or returns something other than scores yields a ``Score`` carrying
``error``. A case is ``"error"`` when a required evaluator could not judge, ``"failed"``
when a required evaluator did not pass, and ``"passed"`` otherwise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import math
import threading
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from spanlink.tracer.model import Case, Evaluator, EvaluatorConfig, Score, Trace
from spanlink.tracer.plugins import call_each

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EQUALS",
    "CaseEvaluation",
    "EvaluatorConfigError",
    "aevaluate_case",
    "effective_configs",
    "evaluate_case",
    "find_evaluators",
    "validate_configs",
]

logger = logging.getLogger("spanlink.evaluation")

#: Seconds one evaluator may take before its score records a timeout.
DEFAULT_TIMEOUT_S = 30.0
#: The evaluator a case's ``expected`` output means when it names no evaluators.
EQUALS = "equals"
#: Sync evaluators run on this many worker threads at most (one that hangs holds one).
_WORKERS = 8
#: Longest error text kept on a score.
_MAX_ERROR = 2_000

Status = Literal["passed", "failed", "error"]


class EvaluatorConfigError(ValueError):
    """A configuration names unknown evaluators or gives them bad parameters.

    ``problems`` lists every problem, one line each; the message holds them all.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} evaluator configuration problem(s): " + "; ".join(self.problems)
        )


@dataclass(frozen=True, slots=True)
class CaseEvaluation:
    """The verdict on one result: its ``status`` and every score, in configuration order."""

    status: Status
    scores: tuple[Score, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when the status is ``"passed"``."""
        return self.status == "passed"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"status": self.status, "scores": [score.as_dict() for score in self.scores]}


def find_evaluators(manager: pluggy.PluginManager) -> dict[str, Evaluator]:
    """The evaluators every plugin of ``manager`` provides, by name.

    A plugin whose hook raises, or that returns something that is not an evaluator, is
    logged and skipped. A name provided twice resolves to the plugin registered last, with
    a warning (the same rule as the hook's documentation).
    """
    results, errors = call_each(manager, "spanlink_evaluators")
    for plugin, error in errors.items():
        logger.error("plugin %r: spanlink_evaluators failed, evaluators skipped: %s", plugin, error)
    found: dict[str, Evaluator] = {}
    owner: dict[str, str] = {}
    # call_each runs in pluggy's order, the plugin registered last first: walk it backwards
    # so that the plugin registered last wins a name.
    for plugin, provided in reversed(list(results.items())):
        items = [provided] if isinstance(provided, Evaluator) else provided
        if not isinstance(items, Iterable) or isinstance(items, (str, bytes, Mapping)):
            logger.error("plugin %r: spanlink_evaluators returned %r, not a list", plugin, provided)
            continue
        for evaluator in items:
            name = getattr(evaluator, "name", None)
            if not isinstance(evaluator, Evaluator) or not isinstance(name, str) or not name:
                logger.error("plugin %r: %r is not an Evaluator and is skipped", plugin, evaluator)
                continue
            if name in found:
                logger.warning(
                    "evaluator %r is provided by plugins %r and %r; using %r's",
                    name,
                    owner[name],
                    plugin,
                    plugin,
                )
            found[name] = evaluator
            owner[name] = plugin
    return found


def effective_configs(configs: Sequence[EvaluatorConfig], case: Case) -> list[EvaluatorConfig]:
    """``configs``, or the ``equals`` evaluator when there are none and ``case.expected`` is set."""
    if configs:
        return list(configs)
    if case.expected is not None:
        return [EvaluatorConfig(EQUALS)]
    return []


def validate_configs(
    configs: Sequence[EvaluatorConfig], evaluators: Mapping[str, Evaluator]
) -> None:
    """Raise ``EvaluatorConfigError`` listing every problem of ``configs``, or return None.

    Problems: an unknown evaluator name, parameters its ``validate`` refuses, a threshold
    that is not a finite number, ``required`` that is not a bool.
    """
    problems: list[str] = []
    for index, config in enumerate(configs):
        where = f"evaluators[{index}]"
        if not isinstance(config, EvaluatorConfig):
            problems.append(f"{where}: {config!r} is not an EvaluatorConfig")
            continue
        where = f"{where} ({config.name!r})"
        threshold = config.threshold
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
        ):
            problems.append(f"{where}: threshold must be a finite number, not {threshold!r}")
        if not isinstance(config.required, bool):
            problems.append(f"{where}: required must be true or false, not {config.required!r}")
        evaluator = evaluators.get(config.name)
        if evaluator is None:
            known = ", ".join(sorted(evaluators)) or "none installed"
            problems.append(f"{where}: no evaluator of that name (known: {known})")
            continue
        if not isinstance(config.params, Mapping):
            problems.append(f"{where}: params must be an object, not {config.params!r}")
            continue
        try:
            evaluator.validate(config.params)
        except ValueError as error:
            problems.append(f"{where}: {error}")
        except Exception as error:  # a broken validate() is a problem of this config too
            problems.append(f"{where}: validate() failed: {type(error).__name__}: {error}")
    if problems:
        raise EvaluatorConfigError(problems)


# --- running -------------------------------------------------------------------------

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_loop_thread: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_lock = threading.Lock()


def _workers() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=_WORKERS, thread_name_prefix="spanlink-evaluator"
            )
        return _pool


def _background_loop() -> asyncio.AbstractEventLoop:
    """One daemon event loop for async evaluators called from sync code."""
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread[1].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="spanlink-evaluator-loop", daemon=True
            )
            thread.start()
            _loop_thread = (loop, thread)
        return _loop_thread[0]


def _error_score(config: EvaluatorConfig, evaluator: Evaluator | None, message: str) -> Score:
    if len(message) > _MAX_ERROR:
        message = message[: _MAX_ERROR - 3] + "..."
    return Score(
        name=config.name,
        evaluator=config.name,
        evaluator_version=getattr(evaluator, "version", None),
        error=message,
    )


def _scores_of(config: EvaluatorConfig, evaluator: Evaluator, returned: Any) -> list[Score]:
    """The scores an evaluator returned, stamped with its name and version."""
    items = [returned] if isinstance(returned, Score) else returned
    if not isinstance(items, Iterable) or isinstance(items, (str, bytes, Mapping)):
        return [_error_score(config, evaluator, f"returned {returned!r}, not a Score or scores")]
    scores: list[Score] = []
    for item in items:
        if not isinstance(item, Score):
            return [_error_score(config, evaluator, f"returned {item!r}, not a Score")]
        scores.append(
            replace(
                item,
                evaluator=item.evaluator or evaluator.name,
                evaluator_version=item.evaluator_version or evaluator.version,
            )
        )
    if not scores:
        return [_error_score(config, evaluator, "returned no scores")]
    return scores


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class _Job:
    """One evaluator call of a case: what it is given, and how its outcome is reported."""

    __slots__ = ("case", "config", "enrichment", "evaluator", "output", "trace")

    def __init__(
        self,
        config: EvaluatorConfig,
        evaluator: Evaluator,
        case: Case,
        output: Any,
        trace: Trace | None,
        enrichment: Mapping[str, Any] | None,
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.case = case
        self.output = output
        # The protocol: an evaluator that does not read the trace is given none.
        self.trace = trace if evaluator.needs_trace else None
        self.enrichment = enrichment

    def call(self) -> list[Score] | Awaitable[Any]:
        """Call ``evaluate``; a sync result is collected here (a generator runs here too)."""
        result = self.evaluator.evaluate(
            self.case,
            self.output,
            self.trace,
            params=self.config.params,
            threshold=self.config.threshold,
            enrichment=self.enrichment,
        )
        if inspect.isawaitable(result):
            return result
        return self.collect(result)

    def collect(self, returned: Any) -> list[Score]:
        return _scores_of(self.config, self.evaluator, returned)

    def failed(self, message: str) -> list[Score]:
        return [_error_score(self.config, self.evaluator, message)]


def _plan(
    configs: Sequence[EvaluatorConfig],
    case: Case,
    output: Any,
    trace: Trace | None,
    evaluators: Mapping[str, Evaluator],
    enrichment: Mapping[str, Any] | None,
) -> tuple[list[EvaluatorConfig], dict[int, _Job], dict[int, list[Score]]]:
    planned = effective_configs(configs, case)
    jobs: dict[int, _Job] = {}
    done: dict[int, list[Score]] = {}
    for index, config in enumerate(planned):
        evaluator = evaluators.get(config.name)
        if evaluator is None:
            known = ", ".join(sorted(evaluators)) or "none installed"
            done[index] = [
                _error_score(config, None, f"no evaluator named {config.name!r} (known: {known})")
            ]
        else:
            jobs[index] = _Job(config, evaluator, case, output, trace, enrichment)
    return planned, jobs, done


def _verdict(
    planned: Sequence[EvaluatorConfig], results: Mapping[int, list[Score]]
) -> CaseEvaluation:
    status: Status = "passed"
    scores: list[Score] = []
    for index, config in enumerate(planned):
        for score in results[index]:
            scores.append(score)
            if not config.required:
                continue
            if score.error is not None:
                status = "error"
            elif score.passed is False and status == "passed":
                status = "failed"
    return CaseEvaluation(status, tuple(scores))


async def _run_async(
    job: _Job, awaitable: Awaitable[Any], remaining_s: float, timeout_s: float
) -> list[Score]:
    try:
        returned = await asyncio.wait_for(awaitable, remaining_s)
    except asyncio.TimeoutError:
        return job.failed(f"timed out after {timeout_s:g} s")
    except Exception as error:
        return job.failed(_describe(error))
    try:
        return job.collect(returned)
    except Exception as error:  # an iterable that raises while it is read
        return job.failed(_describe(error))


def _safe_call(job: _Job) -> list[Score] | Awaitable[Any]:
    try:
        return job.call()
    except Exception as error:
        return job.failed(_describe(error))


def evaluate_case(
    configs: Sequence[EvaluatorConfig],
    case: Case,
    output: Any,
    trace: Trace | None,
    *,
    evaluators: Mapping[str, Evaluator],
    enrichment: Mapping[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CaseEvaluation:
    """Judge one result with ``configs`` (or ``equals`` when there are none and the case has
    ``expected``); returns within about ``timeout_s`` and never raises for an evaluator.

    For sync callers. Sync evaluators run concurrently on a bounded worker pool, async
    ones on a background event loop; each gets ``timeout_s`` (the whole case at most about
    twice that). Inside an event loop, await
    ``aevaluate_case`` instead so the loop is not blocked.
    """
    planned, jobs, results = _plan(configs, case, output, trace, evaluators, enrichment)
    # The common case, every evaluator quick and sync: one batch on one worker, waited for
    # here (no event loop involved). What is left after it (an async evaluator's awaitable,
    # a batch stuck past the deadline) is finished on the background loop.
    batch = _Batch(list(jobs.items()))
    running = _workers().submit(batch.run)
    with contextlib.suppress(concurrent.futures.TimeoutError):
        running.result(timeout=timeout_s)
    stuck, called = batch.stop()
    done = {index: value for index, value in called.items() if isinstance(value, list)}
    if stuck is None and len(done) == len(jobs):
        results.update(done)
        return _verdict(planned, results)
    waiting = asyncio.run_coroutine_threadsafe(
        _complete(planned, jobs, results, stuck, called, timeout_s), _background_loop()
    )
    try:
        # _complete enforces every deadline itself; the margin only covers scheduling
        # (and a loop blocked by an async evaluator that never yields).
        return waiting.result(timeout=timeout_s + 5.0)
    except concurrent.futures.TimeoutError:
        waiting.cancel()
        for index, job in jobs.items():
            if index not in results:
                results[index] = job.failed(f"timed out after {timeout_s:g} s")
        return _verdict(planned, results)


async def aevaluate_case(
    configs: Sequence[EvaluatorConfig],
    case: Case,
    output: Any,
    trace: Trace | None,
    *,
    evaluators: Mapping[str, Evaluator],
    enrichment: Mapping[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CaseEvaluation:
    """``evaluate_case`` for async callers: async evaluators run on the caller's loop."""
    planned, jobs, results = _plan(configs, case, output, trace, evaluators, enrichment)
    loop = asyncio.get_running_loop()
    # Most evaluators are quick and sync: call them one after the other in one worker
    # (one thread hand-off per case, not one per evaluator). If that batch overruns the
    # deadline, the evaluator it is stuck in times out and the ones it had not reached
    # run each on their own worker with their own deadline.
    batch = _Batch(list(jobs.items()))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(
            asyncio.shield(loop.run_in_executor(_workers(), batch.run)), timeout_s
        )
    stuck, called = batch.stop()
    return await _complete(planned, jobs, results, stuck, called, timeout_s)


async def _complete(
    planned: Sequence[EvaluatorConfig],
    jobs: Mapping[int, _Job],
    results: dict[int, list[Score]],
    stuck: int | None,
    called: Mapping[int, list[Score] | Awaitable[Any]],
    timeout_s: float,
) -> CaseEvaluation:
    """After the batch: the stuck job timed out, awaitables awaited (each with its own
    deadline), jobs the batch did not reach run each on a worker; then the verdict."""
    loop = asyncio.get_running_loop()
    pool = _workers()

    async def run(job: _Job) -> list[Score]:
        call = loop.run_in_executor(pool, _safe_call, job)
        try:
            value = await asyncio.wait_for(call, timeout_s)
        except asyncio.TimeoutError:
            return job.failed(f"timed out after {timeout_s:g} s")
        return await finish(job, value)

    async def finish(job: _Job, value: list[Score] | Awaitable[Any]) -> list[Score]:
        if inspect.isawaitable(value):  # an async evaluator: its own deadline from here
            return await _run_async(job, value, timeout_s, timeout_s)
        return value

    if stuck is not None:
        results[stuck] = jobs[stuck].failed(f"timed out after {timeout_s:g} s")
    pending: dict[int, Awaitable[list[Score]]] = {}
    for index, job in jobs.items():
        if index == stuck:
            continue
        value = called.get(index)
        if value is None:
            pending[index] = run(job)
        elif inspect.isawaitable(value):
            pending[index] = finish(job, value)
        else:
            results[index] = value
    if pending:
        outcomes = await asyncio.gather(*pending.values())
        results.update(zip(pending, outcomes, strict=True))
    return _verdict(planned, results)


class _Batch:
    """Calls jobs one after the other on one worker thread, until stopped."""

    __slots__ = ("_called", "_current", "_jobs", "_lock", "_stopped")

    def __init__(self, jobs: list[tuple[int, _Job]]) -> None:
        self._jobs = jobs
        self._called: dict[int, list[Score] | Awaitable[Any]] = {}
        self._current: int | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def run(self) -> None:
        for index, job in self._jobs:
            with self._lock:
                if self._stopped:
                    return
                self._current = index
            value = _safe_call(job)
            with self._lock:
                self._called[index] = value
                self._current = None

    def stop(self) -> tuple[int | None, dict[int, list[Score] | Awaitable[Any]]]:
        """Stop before the next job; the job still running (if any) and what was called."""
        with self._lock:
            self._stopped = True
            return self._current, dict(self._called)
