"""``SpanlinkSession``: the plugin object registered when ``--spanlink`` is on.

Per test (``pytest_runtest_protocol``): a result id is allocated, the test context entered
and a root span started for setup, call and teardown (each a child span marked with its
phase); the result is queued as ``running`` before and final after. The session end flushes
spans and results within ``--spanlink-flush-timeout``, finishes the run and compares it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from spanlink.pytest._collector import SpanCollector, phase
from spanlink.pytest._options import Settings
from spanlink.pytest._outcome import (
    failure_text,
    inputs_of,
    json_safe,
    skip_reason,
    status_of,
)
from spanlink.pytest._state import NO_OUTPUT, STATE, TestState
from spanlink.pytest._summary import SessionSummary
from spanlink.tracer import semconv

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from spanlink.pytest._client import TestRunClient
    from spanlink.pytest._local import LocalReceiver
    from spanlink.pytest._reporter import Reporter
    from spanlink.tracer import SpanlinkProcessor

__all__ = ["WORKER_KEY", "SpanlinkSession", "spool_key"]

#: The key of the run's settings in an xdist worker's ``workerinput``.
WORKER_KEY = "spanlink"
DEFAULT_URL = "http://127.0.0.1:4318"
_ENV_CARRIER = ("TRACEPARENT", "TRACESTATE", "BAGGAGE")

_EVALUATION_EVENT = "gen_ai.evaluation.result"


def spool_key(url: str, api_key: str | None) -> str:
    """A hash naming the spool of one receiver and key; the key cannot be read back from it."""
    canonical = json.dumps([url.rstrip("/"), api_key or ""]).encode()
    return hashlib.sha256(b"spanlink-pytest-spool\0" + canonical).hexdigest()[:24]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _role(config: pytest.Config) -> str:
    if hasattr(config, "workerinput"):
        return "worker"
    if getattr(config.option, "dist", "no") != "no" and getattr(config.option, "tx", None):
        return "controller"
    return "single"


class SpanlinkSession:
    """Reports the session as one test run; see the module docstring."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.role = _role(config)
        self.local: LocalReceiver | None = None
        self.summary = SessionSummary()
        self.collector = SpanCollector()
        self._processor: SpanlinkProcessor | None = None
        self._tracer: Tracer | None = None
        self._client: TestRunClient | None = None
        self.reporter: Reporter | None = None
        workerinput = getattr(config, "workerinput", {})
        worker = workerinput.get(WORKER_KEY) if self.role == "worker" else None
        if worker is not None:
            self.run_id: str = worker["run_id"]
            self.url: str = worker["url"]
            self.api_key: str | None = worker["api_key"]
            self.create: dict[str, Any] = worker["create"]
        else:
            self.run_id = uuid.uuid4().hex
            self.url, self.api_key = self._receiver()
            self.create = self._create_body()

    # --- setup -----------------------------------------------------------------------

    def _receiver(self) -> tuple[str, str | None]:
        settings = self.settings
        if settings.local or settings.url is None:
            from spanlink.pytest._local import local_available, start_local_receiver

            if settings.local or local_available():
                self.local = start_local_receiver()
                return self.local.url, self.local.api_key
        return settings.url or DEFAULT_URL, settings.api_key

    def _create_body(self) -> dict[str, Any]:
        from spanlink.pytest._metadata import run_metadata

        args = list(self.config.invocation_params.args)
        return {
            "id": self.run_id,
            "source": "pytest",
            "name": self.settings.run_name or f"pytest {Path.cwd().name}",
            "environment": self.settings.environment,
            "metadata": run_metadata(args, Path(str(self.config.rootpath))),
        }

    def worker_input(self) -> dict[str, Any]:
        """What an xdist worker needs to report into this run."""
        return {
            "run_id": self.run_id,
            "url": self.url,
            "api_key": self.api_key,
            "create": self.create,
        }

    def _spool_dir(self) -> Path | None:
        """Where spans the receiver did not take wait for it (also for the next session).

        The folder is keyed by a hash of the receiver URL and API key (never the key itself):
        a later session re-sends only what was spooled for its own receiver and key, never
        another project's spans. Without pytest's cache, a per-user cache folder (mode 0700)
        is used, not one every user and session on the machine shares. ``None`` (no spool)
        when no such folder can be made.
        """
        worker = str(getattr(self.config, "workerinput", {}).get("workerid", "main"))
        name = f"spool-{spool_key(self.url, self.api_key)}-{worker}"
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            return Path(cache.mkdir("spanlink")) / name
        import platformdirs

        base = Path(platformdirs.user_cache_dir("spanlink", appauthor=False)) / "pytest"
        try:
            # Spans may carry prompts and user data: only this user may read them.
            base.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            base.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            self.summary.note(f"spans are not spooled: cannot create {str(base)!r} ({error})")
            return None
        return base / name

    def _install_tracing(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from spanlink.exporter import SpanlinkExporter
        from spanlink.pytest._version import __version__
        from spanlink.tracer import SpanlinkProcessor

        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            resource: dict[str, Any] = {}
            if self.settings.environment:
                resource["deployment.environment.name"] = self.settings.environment
            from spanlink.pytest._ids import PrivateIdGenerator

            created = TracerProvider(
                resource=Resource.create(resource), id_generator=PrivateIdGenerator()
            )
            trace.set_tracer_provider(created)
            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                self.summary.note(
                    "a non-SDK tracer provider is global: spans are not linked "
                    "(add SpanlinkProcessor to your provider)"
                )
                return
        # An export gives up (and spools) within the flush timeout, so the session's end
        # never waits longer for an unreachable receiver.
        exporter = SpanlinkExporter(
            endpoint=self.url,
            api_key=self.api_key,
            spool_dir=self._spool_dir(),
            timeout=max(1.0, self.settings.flush_timeout),
        )
        stamped = (
            {"deployment.environment.name": self.settings.environment}
            if self.settings.environment
            else {}
        )
        self._processor = SpanlinkProcessor(
            processor=BatchSpanProcessor(exporter), span_attributes=stamped
        )
        # Joined, never replaced: the app's own processors keep working beside these.
        provider.add_span_processor(self.collector)
        provider.add_span_processor(self._processor)
        self._provider: TracerProvider = provider
        self._tracer = provider.get_tracer("spanlink.pytest", __version__)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from spanlink.pytest._client import TestRunClient
        from spanlink.pytest._reporter import Reporter

        self._client = TestRunClient(self.url, self.api_key)
        self.reporter = Reporter(self._client, self.run_id, self.create)
        if self.role != "controller":
            self._install_tracing()

    # --- per test ----------------------------------------------------------------------

    def _case_id(self, item: pytest.Item) -> str:
        marker = item.get_closest_marker("spanlink")
        if marker is not None and isinstance(marker.kwargs.get("case_id"), str):
            return str(marker.kwargs["case_id"])
        return item.nodeid

    def _result(self, state: TestState, item: pytest.Item, final: bool) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": state.result_id,
            "case_id": state.case_id,
            "inputs": state.inputs,
            "status": "running",
            "started_at": _iso(state.started_at),
            "metadata": {"node_id": item.nodeid, "location": list(item.location)},
        }
        if state.root is not None:
            result["trace_id"] = format(state.root.get_span_context().trace_id, "032x")
        worker = getattr(self.config, "workerinput", {}).get("workerid")
        if worker:
            result["metadata"]["worker"] = worker
        if not final:
            return result
        reports = state.reports
        result["status"] = status_of(reports)
        result["duration_ms"] = round(sum(r.duration for r in reports) * 1000, 3)
        result["finished_at"] = _iso(time.time())
        result["error"] = failure_text(reports)
        if state.output is not NO_OUTPUT:
            result["output"] = json_safe(state.output)
        result["scores"] = [score.as_dict() for score in state.scores]
        meta = result["metadata"]
        meta["phases"] = {r.when: round(r.duration * 1000, 3) for r in reports}
        reason = skip_reason(reports)
        if reason:
            meta["reason"] = reason
        if state.spans is not None:
            meta["span_count"] = len(state.spans.spans) + state.spans.dropped
        return result

    @contextmanager
    def _carrier(self) -> Iterator[None]:
        """``TRACEPARENT``/``BAGGAGE`` of the current span, for subprocesses of the test."""
        from spanlink.tracer import context_environment

        saved = {name: os.environ.get(name) for name in _ENV_CARRIER}
        os.environ.update(context_environment())
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        from spanlink.tracer import test_context

        state = TestState(
            result_id=uuid.uuid4().hex,
            run_id=self.run_id,
            case_id=self._case_id(item),
            inputs=inputs_of(item),
        )
        item.stash[STATE] = state
        state.spans = self.collector.open(state.result_id)
        try:
            with test_context(run_id=self.run_id, case_id=state.case_id, result_id=state.result_id):
                if self._tracer is None:
                    self._submit(self._result(state, item, final=False))
                    return (yield)
                with self._tracer.start_as_current_span(
                    f"test {item.name}",
                    attributes={semconv.SPANLINK_TEST_NODE_ID: item.nodeid},
                    record_exception=False,
                    set_status_on_exception=False,
                ) as root:
                    state.root = root
                    self._submit(self._result(state, item, final=False))
                    try:
                        return (yield)
                    finally:
                        self._close_root(root, state)
        finally:
            self.collector.close(state.result_id)
            self._submit(self._result(state, item, final=True))
            del item.stash[STATE]

    def _close_root(self, root: Span, state: TestState) -> None:
        from opentelemetry.trace import Status, StatusCode

        for score in list(state.scores):
            event: dict[str, Any] = {"gen_ai.evaluation.name": score.name}
            if score.value is not None:
                event["gen_ai.evaluation.score.value"] = float(score.value)
            if score.label is not None:
                event["gen_ai.evaluation.score.label"] = score.label
            if score.explanation is not None:
                event["gen_ai.evaluation.explanation"] = score.explanation[:4096]
            if score.passed is not None:
                event["spanlink.evaluation.passed"] = score.passed
            root.add_event(_EVALUATION_EVENT, event)
        status = status_of(state.reports)
        root.set_attribute(semconv.SPANLINK_TEST_OUTCOME, status)
        if status in ("failed", "error"):
            root.set_status(Status(StatusCode.ERROR, f"test {status}"))

    def _submit(self, result: dict[str, Any]) -> None:
        if self.reporter is not None:
            self.reporter.submit(result)

    @contextmanager
    def _phase(self, item: pytest.Item, name: str) -> Iterator[None]:
        token = phase.set(name)
        try:
            if self._tracer is None or STATE not in item.stash:
                yield
                return
            with (
                self._tracer.start_as_current_span(
                    name,
                    attributes={semconv.SPANLINK_TEST_PHASE: name},
                    record_exception=False,
                    set_status_on_exception=False,
                ),
                self._carrier(),
            ):
                yield
        finally:
            phase.reset(token)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        with self._phase(item, "setup"):
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        with self._phase(item, "call"):
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        with self._phase(item, "teardown"):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = item.stash.get(STATE, None)
        if state is not None:
            state.reports.append(report)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        """Apply the marker's evaluators to the test's return value (or recorded output)."""
        from spanlink.pytest._marker import evaluate_marker, wrap_for_return_value

        marker = pyfuncitem.get_closest_marker("spanlink")
        state = pyfuncitem.stash.get(STATE, None)
        if marker is None or state is None or not marker.kwargs.get("evaluators"):
            return (yield)
        captured, restore = wrap_for_return_value(pyfuncitem)
        try:
            result = yield
        finally:
            restore()
        evaluate_marker(marker, state, captured)
        return result

    # --- reports of every test (on the controller too) ---------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.summary.add_report(report)

    # --- session end --------------------------------------------------------------------

    def _flush_spans(self, deadline: float) -> None:
        if self._processor is None:
            return
        from spanlink.tracer.support import run_with_deadline

        remaining = max(0.0, deadline - time.monotonic())
        run_with_deadline(
            lambda: (
                self._processor.force_flush(int(remaining * 1000))  # type: ignore[union-attr]
                if self._processor
                else True
            ),
            remaining,
            "flush of the test spans",
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        deadline = time.monotonic() + self.settings.flush_timeout
        if self.reporter is None or self._client is None:
            return
        self._flush_spans(deadline)
        self.reporter.close(max(0.0, deadline - time.monotonic()))
        summary = self.summary
        summary.note(self.reporter.problem)
        summary.dropped = self.reporter.dropped
        if self.role == "worker":
            return
        summary.url = (self.reporter.created or {}).get("url")
        if self.reporter.created is None:
            return
        from spanlink.pytest._errors import SpanlinkPytestError

        try:
            remaining = max(0.5, deadline - time.monotonic())
            run = self._client.finish_run(self.run_id, timeout=remaining)
            summary.run = run
            summary.url = run.get("url") or summary.url
        except SpanlinkPytestError as error:
            summary.note(f"the run could not be finished: {error}")
            return
        if self.settings.baseline:
            try:
                remaining = max(0.5, deadline - time.monotonic())
                summary.comparison = self._client.compare(
                    self.run_id, self.settings.baseline, timeout=remaining
                )
                summary.compared = True
            except SpanlinkPytestError as error:
                summary.note(f"the comparison with the baseline failed: {error}")
        if (
            self.settings.fail_on_regression
            and summary.regressions()
            and session.exitstatus == pytest.ExitCode.OK
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.role == "worker":
            return
        lines = self.summary.render(
            run_id=self.run_id, local=self.local, baseline=self.settings.baseline
        )
        terminalreporter.write_sep("=", "spanlink")
        for line, markup in lines:
            terminalreporter.write_line(line, **markup)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._processor is not None:
            processor, self._processor = self._processor, None
            # What was not delivered within the flush timeout is in the spool already; the
            # summary said so once, so this wait is short and silent.
            stopper = threading.Thread(target=processor.shutdown, daemon=True)
            stopper.start()
            stopper.join(0.5)
        if self._client is not None:
            self._client.close()
        if self.local is not None:
            self.local.stop()
