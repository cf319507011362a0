"""test_context / session: stamped on every span, carried by baggage, never leaking."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import (
    ContextThreadPoolExecutor,
    SpanlinkProcessor,
    current_session,
    current_test_context,
    session,
    test_context,
    with_current_context,
)
from spanlink.tracer.plugins import get_plugin_manager

RUN = "spanlink.test.run_id"
CASE = "spanlink.test.case_id"
RESULT = "spanlink.test.result_id"


@pytest.fixture
def setup() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        SpanlinkProcessor(
            processor=SimpleSpanProcessor(exporter), plugin_manager=get_plugin_manager()
        )
    )
    yield provider, exporter
    provider.shutdown()


def _attrs(exporter: InMemorySpanExporter) -> dict[str, dict[str, object]]:
    return {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}


def test_spans_inside_are_stamped_spans_outside_are_not(setup) -> None:
    provider, exporter = setup
    ours, theirs = provider.get_tracer("app"), provider.get_tracer("some.instrumentation")
    with test_context(run_id="r1", case_id="c1", result_id="res1", configuration_id="cfg"):
        with ours.start_as_current_span("inside"):
            with theirs.start_as_current_span("http-call"):
                pass
    with ours.start_as_current_span("after"):
        pass
    spans = _attrs(exporter)
    for name in ("inside", "http-call"):
        assert spans[name][RUN] == "r1"
        assert spans[name][CASE] == "c1"
        assert spans[name][RESULT] == "res1"
        assert spans[name]["spanlink.test.configuration_id"] == "cfg"
    assert RUN not in spans["after"]
    assert current_test_context() is None


def test_nested_blocks_inherit_and_restore() -> None:
    with test_context(run_id="r"):
        with test_context(case_id="c") as inner:
            assert (inner.run_id, inner.case_id) == ("r", "c")
        outer = current_test_context()
        assert outer is not None and (outer.run_id, outer.case_id) == ("r", None)
    assert current_test_context() is None


def test_nothing_leaks_after_an_exception(setup) -> None:
    provider, exporter = setup
    with pytest.raises(RuntimeError), test_context(run_id="r"), session(session_id="s"):
        raise RuntimeError("boom")
    assert current_test_context() is None and current_session() is None
    with provider.get_tracer("t").start_as_current_span("later"):
        pass
    assert _attrs(exporter)["later"] == {}


def test_concurrent_asyncio_tasks_keep_their_own_context(setup) -> None:
    provider, exporter = setup
    tracer = provider.get_tracer("t")

    async def case(case_id: str) -> None:
        with test_context(run_id="run", case_id=case_id):
            await asyncio.sleep(0.01)
            with tracer.start_as_current_span(f"span-{case_id}"):
                await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(case(str(i)) for i in range(20)))

    asyncio.run(main())
    spans = _attrs(exporter)
    assert len(spans) == 20
    for i in range(20):
        assert spans[f"span-{i}"][CASE] == str(i)


def test_session_attributes(setup) -> None:
    provider, exporter = setup
    with session(session_id="s1", user_id="u1"), session(conversation_id="conv"):
        with provider.get_tracer("t").start_as_current_span("chat"):
            pass
    assert _attrs(exporter)["chat"] == {
        "session.id": "s1",
        "user.id": "u1",
        "gen_ai.conversation.id": "conv",
    }


def test_thread_pools(setup) -> None:
    provider, exporter = setup
    tracer = provider.get_tracer("t")

    def work(name: str) -> str | None:
        with tracer.start_as_current_span(name):
            ctx = current_test_context()
            return ctx.case_id if ctx else None

    with test_context(run_id="r", case_id="c"):
        with ContextThreadPoolExecutor(max_workers=2) as pool:
            assert pool.submit(work, "pooled").result() == "c"
        with ThreadPoolExecutor(max_workers=1) as plain:
            assert plain.submit(with_current_context(work), "wrapped").result() == "c"
            assert plain.submit(work, "plain").result() is None  # the hazard the helpers fix
    spans = _attrs(exporter)
    assert spans["pooled"][CASE] == "c" and spans["wrapped"][CASE] == "c"
    assert CASE not in spans["plain"]


def test_w3c_baggage_carries_the_context_to_a_downstream_service(setup) -> None:
    provider, exporter = setup
    headers: dict[str, str] = {}
    with test_context(run_id="r9", case_id="c9", result_id="res9"), session(user_id="u9"):
        propagate.inject(headers)  # what an HTTP client instrumentation does
    assert "baggage" in headers and "r9" in headers["baggage"]
    assert current_test_context() is None
    # The downstream service extracts the incoming context, as a server instrumentation does.
    incoming = propagate.extract(headers)
    with provider.get_tracer("downstream").start_as_current_span("handler", context=incoming):
        pass
    attrs = _attrs(exporter)["handler"]
    assert (attrs[RUN], attrs[CASE], attrs[RESULT], attrs["user.id"]) == ("r9", "c9", "res9", "u9")


def test_ids_must_be_strings() -> None:
    with pytest.raises(TypeError, match="run_id must be a str"):
        with test_context(run_id=5):  # type: ignore[arg-type]
            pass
