"""Run the enrichment hooks of every plugin over one trace, isolating each plugin.

Each plugin runs on its own worker thread ("lane"), first ``spanlink_enrich_span`` over
every span, then ``spanlink_enrich_trace`` with all plugins' span results. The whole trace
has one time budget: a plugin still running when it is spent is recorded as timed out and
its result discarded, while the others' results are kept. Python cannot stop a thread, so
a hung plugin keeps its lane; a plugin gets a bounded number of lanes and is skipped (with
the reason recorded) while all of them are still busy.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pluggy

from spanlink.receiver import hookspecs
from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import PluginInfo, call_each, get_plugin_manager, load_plugins

__all__ = ["EnrichmentResult", "PluginRunner", "PluginSet", "default_plugins"]

SPAN_HOOK = "spanlink_enrich_span"
TRACE_HOOK = "spanlink_enrich_trace"


@dataclass(frozen=True)
class PluginSet:
    """A plugin manager and what is known of each plugin (for versions and listings)."""

    manager: pluggy.PluginManager
    infos: tuple[PluginInfo, ...] = ()

    def versions(self) -> dict[str, str | None]:
        """Plugin name -> version of its distribution (None when unknown)."""
        known = {info.name: info.version for info in self.infos}
        return {
            name: known.get(name)
            for name, plugin in self.manager.list_name_plugin()
            if plugin is not None
        }


_default: PluginSet | None = None
_default_lock = threading.Lock()


def default_plugins() -> PluginSet:
    """The plugins of entry point group ``spanlink``, loaded once per process.

    Honours ``SPANLINK_DISABLE_PLUGINS`` (read on this first load).
    """
    global _default
    with _default_lock:
        if _default is None:
            manager = get_plugin_manager()
            manager.add_hookspecs(hookspecs)
            manager, infos = load_plugins(manager)
            _default = PluginSet(manager, tuple(infos))
        return _default


@dataclass
class EnrichmentResult:
    """What is stored for one trace in ``trace_enrichments``."""

    #: ``{"spans": {span_id: {plugin: result}}, "trace": {plugin: result},
    #: "errors": {plugin: message}}``
    data: dict[str, Any]
    #: Plugin name -> distribution version of the plugins that ran.
    plugin_versions: dict[str, str | None]
    span_count: int
    #: Wall time of the plugin work in seconds.
    seconds: float = 0.0
    timed_out: list[str] = field(default_factory=list)


class _Lane:
    """One daemon thread running the jobs of one plugin, one at a time."""

    def __init__(self, pool: _LanePool) -> None:
        self._pool = pool
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        # Daemon: a plugin that never returns must not keep the process from exiting.
        self._thread = threading.Thread(target=self._run, name=pool.name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((job, future))
        return future

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as error:  # delivered to the waiting side
                    future.set_exception(error)
            self._pool.release(self)


class _LanePool:
    """The lanes of one plugin: idle ones are reused; at most ``limit`` exist at once."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = f"spanlink-enrich-{name}"
        self._limit = limit
        self._idle: list[_Lane] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> _Lane | None:
        """An idle or new lane; waits up to ``timeout`` s while all ``limit`` are busy."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    return None
                if self._idle:
                    return self._idle.pop()
                if self._count < self._limit:
                    self._count += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
        return _Lane(self)

    def release(self, lane: _Lane) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(lane)
                self._cond.notify()
                return
            self._count -= 1
        lane.stop()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for lane in idle:
            lane.stop()


def _describe(error: BaseException) -> str:
    cause = error.__cause__ or error
    return f"{type(cause).__name__}: {cause}"


def _timed(job: Callable[[], tuple[Any, str | None]]) -> tuple[Any, str | None, float]:
    started = time.monotonic()
    value, message = job()
    return value, message, time.monotonic() - started


def _span_phase(
    manager: pluggy.PluginManager, name: str, spans: Sequence[SpanRecord], context: Any
) -> tuple[dict[str, Any], str | None]:
    """One plugin's span hook over every span: (span id -> result, error message or None)."""
    out: dict[str, Any] = {}
    failed: list[str] = []
    first = ""
    for span in spans:
        results, errors = call_each(manager, SPAN_HOOK, span=span, context=context)
        if errors:
            if not failed:
                first = _describe(next(iter(errors.values())))
            failed.append(span.span_id)
            continue
        if name in results:
            out[span.span_id] = results[name]
    if failed:
        more = f" (and {len(failed) - 1} more spans)" if len(failed) > 1 else ""
        return {}, f"{SPAN_HOOK} raised on span {failed[0]}{more}: {first}"
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as error:
        return {}, f"{SPAN_HOOK} returned a value that is not JSON-safe: {error}"
    return out, None


def _trace_phase(
    manager: pluggy.PluginManager,
    name: str,
    trace: Trace,
    span_results: Mapping[str, Mapping[str, Any]],
    context: Any,
) -> tuple[Any, str | None]:
    results, errors = call_each(
        manager, TRACE_HOOK, trace=trace, span_results=span_results, context=context
    )
    if errors:
        return None, f"{TRACE_HOOK} raised: {_describe(next(iter(errors.values())))}"
    value = results.get(name)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        return None, f"{TRACE_HOOK} returned a value that is not JSON-safe: {error}"
    return value, None


class PluginRunner:
    """Runs a :class:`PluginSet` over traces with a per-trace time budget (thread-safe)."""

    def __init__(self, plugins: PluginSet, *, lanes_per_plugin: int = 16) -> None:
        self.plugins = plugins
        self._lanes_per_plugin = lanes_per_plugin
        self._lock = threading.Lock()
        self._pools: dict[str, _LanePool] = {}
        # One manager per plugin, so ``call_each`` calls exactly that plugin on its lane.
        self._single: list[tuple[str, pluggy.PluginManager, bool, bool]] = []
        for name, plugin in plugins.manager.list_name_plugin():
            if plugin is None:  # blocked (disabled) name
                continue
            single = get_plugin_manager()
            single.register(plugin, name=name)
            has_span = bool(single.hook.spanlink_enrich_span.get_hookimpls())
            has_trace = bool(single.hook.spanlink_enrich_trace.get_hookimpls())
            if has_span or has_trace:
                self._single.append((name, single, has_span, has_trace))
        self._versions = plugins.versions()

    def _pool(self, name: str) -> _LanePool:
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = self._pools[name] = _LanePool(name, self._lanes_per_plugin)
            return pool

    def _submit(
        self, name: str, job: Callable[[], Any], errors: dict[str, str], timeout: float
    ) -> Future[Any] | None:
        lane = self._pool(name).acquire(timeout)
        if lane is None:
            errors[name] = (
                f"skipped: all {self._lanes_per_plugin} threads of this plugin stayed busy "
                f"for {timeout:g} s (earlier calls still running: does it hang, or are too "
                "many traces enriched at once?)"
            )
            return None
        return lane.submit(job)

    def run(
        self, spans: Sequence[SpanRecord], context: Mapping[str, Any], timeout: float
    ) -> EnrichmentResult:
        """Enrich one trace's spans; each plugin gets ``timeout`` seconds for this trace.

        The budget covers a plugin's span hooks and its trace hook together; plugins run
        side by side, so one slow plugin does not eat into the others' budgets.
        """
        started = time.monotonic()
        errors: dict[str, str] = {}
        timed_out: list[str] = []
        spent: dict[str, float] = {}  # plugin -> seconds used of its budget
        trace = Trace.from_spans(list(spans))

        def late(name: str) -> None:
            timed_out.append(name)
            errors[name] = (
                f"timed out: still running when its per-trace budget of {timeout:g} s was "
                "spent; its results are discarded"
            )

        def collect(jobs: dict[str, Future[Any]], budgets: dict[str, float]) -> dict[str, Any]:
            wait(list(jobs.values()), timeout=max(budgets.values(), default=0.0))
            done: dict[str, Any] = {}
            for name, future in jobs.items():
                if not future.done():
                    late(name)
                    continue
                error = future.exception()
                if error is not None:
                    errors[name] = _describe(error)
                    continue
                value, message, elapsed = future.result()
                spent[name] = spent.get(name, 0.0) + elapsed
                if elapsed > budgets[name]:
                    late(name)  # finished, but past its own budget
                elif message is not None:
                    errors[name] = message
                else:
                    done[name] = value
            return done

        span_jobs: dict[str, Future[Any]] = {}
        for name, single, has_span, _ in self._single:
            if has_span:
                job = partial(_timed, partial(_span_phase, single, name, spans, context))
                future = self._submit(name, job, errors, timeout)
                if future is not None:
                    span_jobs[name] = future
        by_plugin = collect(span_jobs, dict.fromkeys(span_jobs, timeout))

        span_results: dict[str, dict[str, Any]] = {}
        for name, per_span in by_plugin.items():
            for span_id, value in per_span.items():
                span_results.setdefault(span_id, {})[name] = value

        trace_jobs: dict[str, Future[Any]] = {}
        for name, single, _, has_trace in self._single:
            if has_trace and name not in errors:
                job = partial(
                    _timed, partial(_trace_phase, single, name, trace, span_results, context)
                )
                future = self._submit(name, job, errors, timeout)
                if future is not None:
                    trace_jobs[name] = future
        budgets = {name: max(0.0, timeout - spent.get(name, 0.0)) for name in trace_jobs}
        trace_results = {
            name: value for name, value in collect(trace_jobs, budgets).items() if value is not None
        }
        # A plugin whose trace hook failed has no half result: drop its span results too.
        for name in errors:
            for per_span in span_results.values():
                per_span.pop(name, None)
        span_results = {span_id: found for span_id, found in span_results.items() if found}
        return EnrichmentResult(
            data={"spans": span_results, "trace": trace_results, "errors": errors},
            plugin_versions={name: self._versions.get(name) for name, _, _, _ in self._single},
            span_count=len(spans),
            seconds=time.monotonic() - started,
            timed_out=timed_out,
        )

    def close(self) -> None:
        """Let idle lanes exit; a lane still running a plugin exits when it returns."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
