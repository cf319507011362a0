"""A plugin that raises or hangs is isolated: its error is recorded, the others' results and
ingestion go on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from enrichment_helpers import enrichment_of, helpers, llm_span, poll, send, serve

import spanlink.plugins.cost.plugin as cost_plugin
from spanlink.receiver.enrichment import PluginRunner, PluginSet
from spanlink.receiver.settings import Settings
from spanlink.tracer.model import SpanRecord
from spanlink.tracer.plugins import PluginInfo, get_plugin_manager, hookimpl


class Raising:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any] | None:
        raise ValueError(f"cannot read {span.name}")


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any] | None:
        if not span.attributes.get("test.hang"):
            return None  # e.g. the receiver's warm-up trace
        self.calls += 1
        self.release.wait(60)  # far past any budget; released at the end of the test
        return {"late": True}


class TraceRaising:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any] | None:
        return {"seen": span.span_id}

    @hookimpl
    def spanlink_enrich_trace(self, trace: Any, span_results: Any) -> dict[str, Any] | None:
        raise RuntimeError("rollup broke")


class NotJson:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any] | None:
        return {"value": object()}


class Counting:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord, context: Any) -> dict[str, Any] | None:
        return {"project": context["project"]["id"]}

    @hookimpl
    def spanlink_enrich_trace(self, span_results: Any) -> dict[str, Any] | None:
        return {"spans": len(span_results)}


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    plugin = Hanging()
    yield plugin
    plugin.release.set()


def _plugins(**plugins: Any) -> PluginSet:
    manager = get_plugin_manager()
    infos = []
    for name, plugin in plugins.items():
        manager.register(plugin, name=name)
        infos.append(PluginInfo(name, f"dist-{name}", "9.9", []))
    return PluginSet(manager, tuple(infos))


def _span(i: int = 1, hang: bool = True) -> SpanRecord:
    now = time.time_ns()
    return SpanRecord(
        trace_id="a" * 32,
        span_id=f"{i:016x}",
        name="chat gpt-4o-mini",
        start_time_unix_nano=now - 1000,
        end_time_unix_nano=now,
        attributes={
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "test.hang": hang,
        },
    )


def test_raising_and_hanging_plugins_through_the_receiver(
    database_url: str, project, hanging: Hanging, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="spanlink.receiver.enrichment")
    plugins = _plugins(cost=cost_plugin, boom=Raising(), hang=hanging, count=Counting())
    settings = Settings(database_url=database_url, enrichment_timeout=0.5)
    with serve(settings, plugins) as served, served.client(project.api_key) as http:
        tid = helpers.trace_id()
        spans = [llm_span(tid, **{"test.hang": True}), llm_span(tid, model="gpt-4o")]
        send(http, spans)  # ingestion answers 200 whatever the plugins do
        trace = poll(lambda: enrichment_of(http, tid), lambda t: t["enrichment"] is not None)
        data = trace["enrichment"]["data"]
        errors = data["errors"]
        assert set(errors) == {"boom", "hang"}
        assert "ValueError: cannot read chat gpt-4o" in errors["boom"]
        assert "raised on span" in errors["boom"] and "(and 1 more spans)" in errors["boom"]
        assert "timed out" in errors["hang"] and "0.5 s" in errors["hang"]
        # The other plugins' results are stored; the failing ones left nothing behind.
        for span in spans:
            per_span = data["spans"][span.span_id.hex()]
            assert set(per_span) == {"cost", "count"}
            assert per_span["cost"]["status"] == "ok"
            assert per_span["count"] == {"project": project.id}
        assert set(data["trace"]) == {"cost", "count"}
        assert data["trace"]["count"] == {"spans": 2}
        assert trace["enrichment"]["plugin_versions"] == {
            "cost": "9.9",
            "boom": "9.9",
            "hang": "9.9",
            "count": "9.9",
        }
        # The spans themselves were stored untouched, and ingestion goes on meanwhile.
        assert trace["span_count"] == 2
        other = helpers.trace_id()
        send(http, [llm_span(other)])
        assert http.get(f"/api/v1/traces/{other.hex()}").status_code == 200
        later = poll(lambda: enrichment_of(http, other), lambda t: t["enrichment"] is not None)
        assert set(later["enrichment"]["data"]["errors"]) == {"boom"}
    # Every trace records the error; the log says it once per plugin.
    logged = [r.getMessage() for r in caplog.records if "'boom'" in r.getMessage()]
    assert len(logged) == 1 and "logged once" in logged[0]


def test_a_failing_trace_hook_discards_that_plugins_span_results_too() -> None:
    runner = PluginRunner(_plugins(cost=cost_plugin, rollup=TraceRaising()))
    try:
        result = runner.run([_span(1), _span(2)], {}, timeout=5)
    finally:
        runner.close()
    assert result.data["errors"] == {
        "rollup": "spanlink_enrich_trace raised: RuntimeError: rollup broke"
    }
    assert all(set(found) == {"cost"} for found in result.data["spans"].values())
    assert set(result.data["trace"]) == {"cost"}


def test_a_result_that_is_not_json_is_an_error_not_a_lost_trace() -> None:
    runner = PluginRunner(_plugins(cost=cost_plugin, odd=NotJson()))
    try:
        result = runner.run([_span()], {}, timeout=5)
    finally:
        runner.close()
    assert "not JSON-safe" in result.data["errors"]["odd"]
    assert result.data["spans"][_span().span_id]["cost"]["status"] == "ok"


def test_a_plugin_hanging_on_every_lane_is_skipped(hanging: Hanging) -> None:
    runner = PluginRunner(_plugins(hang=hanging, count=Counting()), lanes_per_plugin=2)
    context = {"project": {"id": 7}}
    try:
        for _ in range(2):  # each run leaves one lane stuck in the plugin
            result = runner.run([_span()], context, timeout=0.05)
            assert "timed out" in result.data["errors"]["hang"]
            assert result.timed_out == ["hang"]
        skipped = runner.run([_span()], context, timeout=0.05)
        assert "skipped" in skipped.data["errors"]["hang"]
        assert skipped.timed_out == []
        assert hanging.calls == 2  # not called a third time
        assert skipped.data["trace"] == {"count": {"spans": 1}}
        hanging.release.set()
        # Once it returns, its lanes serve again (and results come in within budget).
        poll(lambda: runner.run([_span(hang=False)], context, 2.0).data["errors"], lambda e: not e)
    finally:
        hanging.release.set()
        runner.close()


def test_bad_plugin_config_is_that_plugins_error_only() -> None:
    import spanlink.plugins.anomaly.plugin as anomaly_plugin

    runner = PluginRunner(_plugins(cost=cost_plugin, anomaly=anomaly_plugin))
    context = {"config": {"anomaly": {"slow_span": {"threshold_ms": "slow"}}}}
    try:
        result = runner.run([_span(hang=False)], context, timeout=5)
    finally:
        runner.close()
    assert set(result.data["errors"]) == {"anomaly"}
    assert "threshold_ms" in result.data["errors"]["anomaly"]
    assert set(result.data["trace"]) == {"cost"}


class Slow:
    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord) -> dict[str, Any] | None:
        time.sleep(0.1)
        return {"ok": True}


def test_concurrent_traces_wait_for_a_free_thread_within_the_budget() -> None:
    runner = PluginRunner(_plugins(slow=Slow()), lanes_per_plugin=1)
    results: list[Any] = []
    try:
        threads = [
            threading.Thread(target=lambda: results.append(runner.run([_span()], {}, 5.0)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        runner.close()
    assert len(results) == 3
    assert all(r.data["errors"] == {} and r.data["spans"] for r in results)
