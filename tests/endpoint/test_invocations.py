"""Invocations over a real WebSocket: outputs, spans, test context, trace ids, flushing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import spanlink.protocol as p
from spanlink.endpoint import Registry
from spanlink.tracer import observe
from spanlink.tracer.model import format_trace_id

CONTEXT = {"run_id": "run-1", "case_id": "case-7", "result_id": "res-42", "configuration_id": "cfg"}
TEST_ATTRIBUTES = {
    "spanlink.test.run_id": "run-1",
    "spanlink.test.case_id": "case-7",
    "spanlink.test.result_id": "res-42",
    "spanlink.test.configuration_id": "cfg",
}


def _trace_spans(exporter: Any, trace_id: str) -> list[Any]:
    return [
        s for s in exporter.get_finished_spans() if format_trace_id(s.context.trace_id) == trace_id
    ]


def _assert_linked(exporter: Any, result: p.Result, expected: int, root_name: str) -> list[Any]:
    assert result.trace_id is not None
    spans = _trace_spans(exporter, result.trace_id)
    assert len(spans) == expected, [s.name for s in spans]
    assert result.span_count == expected
    for span in spans:
        for key, value in TEST_ATTRIBUTES.items():
            assert span.attributes.get(key) == value, (span.name, key)
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == [root_name]
    assert roots[0].attributes["spanlink.endpoint.invocation_id"] == result.invocation_id
    return spans


def _registry() -> Registry:
    registry = Registry()

    @observe(name="retrieve")
    def retrieve(query: str) -> list[str]:
        return [f"doc about {query}"]

    @registry.endpoint
    def sync_answer(question: str, times: int = 1) -> str:
        """Answer synchronously (runs in a worker thread)."""
        assert threading.current_thread() is not threading.main_thread()
        docs = retrieve(question)
        with trace.get_tracer("app").start_as_current_span("compose"):
            return f"{question}!" * times + f" ({len(docs)} doc)"

    @registry.endpoint
    async def async_answer(question: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"answer": question.upper(), "docs": retrieve(question)}

    @registry.endpoint(name="stream")
    def stream_answer(words: list[str]) -> Iterator[str]:
        for word in words:
            retrieve(word)
            yield word + " "

    @registry.endpoint
    async def async_stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i * i

    @dataclass
    class Reply:
        text: str
        score: float

    @registry.endpoint
    def structured(text: str) -> Reply:
        return Reply(text=text, score=0.5)

    @registry.endpoint
    def fails(message: str) -> None:
        retrieve(message)
        raise RuntimeError(f"model refused: {message}")

    @registry.endpoint
    def huge(size: int) -> str:
        return "x" * size

    return registry


async def test_sync_function_runs_in_a_thread_with_context_and_flushed_linked_spans(
    peer: Any, serving: Any, spans: Any, batched: Any
) -> None:
    async with serving(peer, _registry()):
        result = await peer.invoke("sync_answer", {"question": "hi", "times": 2}, context=CONTEXT)
        # Spans reached the batching exporter before the result arrived: flushed first.
        flushed_at_result = _trace_spans(batched, result.trace_id or "")
    assert result.status == "success", result.error
    assert result.output == "hi!hi! (1 doc)"
    assert result.error is None and result.duration_ms > 0
    linked = _assert_linked(spans, result, 3, "sync_answer")
    assert {s.name for s in linked} == {"sync_answer", "retrieve", "compose"}
    root = next(s for s in linked if s.parent is None)
    assert json.loads(root.attributes["spanlink.input"]) == {"question": "hi", "times": 2}
    assert json.loads(root.attributes["spanlink.output"]) == "hi!hi! (1 doc)"
    assert len(flushed_at_result) == 3


async def test_async_function_and_structured_outputs(peer: Any, serving: Any, spans: Any) -> None:
    async with serving(peer, _registry()):
        result = await peer.invoke("async_answer", {"question": "why"}, context=CONTEXT)
        structured = await peer.invoke("structured", {"text": "ok"})
    assert result.status == "success"
    assert result.output == {"answer": "WHY", "docs": ["doc about why"]}
    assert structured.span_count == 1
    _assert_linked(spans, result, 2, "async_answer")
    assert structured.output == {"text": "ok", "score": 0.5}


async def test_generators_give_concatenation_or_list_and_one_root_span(
    peer: Any, serving: Any, spans: Any
) -> None:
    async with serving(peer, _registry()):
        text = await peer.invoke("stream", {"words": ["a", "b", "c"]}, context=CONTEXT)
        numbers = await peer.invoke("async_stream", {"n": 4}, context=CONTEXT)
    assert text.status == "success" and text.output == "a b c "
    # The root span covers the whole iteration: the three child spans are inside it.
    linked = _assert_linked(spans, text, 4, "stream")
    root = next(s for s in linked if s.parent is None)
    assert all(root.start_time <= s.start_time and s.end_time <= root.end_time for s in linked)
    assert numbers.output == [0, 1, 4, 9]
    _assert_linked(spans, numbers, 1, "async_stream")


async def test_function_error_is_a_failed_result_and_an_error_span(
    peer: Any, serving: Any, spans: Any
) -> None:
    async with serving(peer, _registry()):
        result = await peer.invoke("fails", {"message": "no"}, context=CONTEXT)
        after = await peer.invoke("async_answer", {"question": "still there?"})
    assert result.status == "error"
    assert result.error == p.ErrorInfo(type="RuntimeError", message="model refused: no")
    linked = _assert_linked(spans, result, 2, "fails")
    root = next(s for s in linked if s.parent is None)
    assert root.status.status_code is StatusCode.ERROR
    assert after.status == "success"


async def test_large_output_is_cut_and_marked(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry(), max_output_bytes=2000):
        result = await peer.invoke("huge", {"size": 50_000})
        small = await peer.invoke("huge", {"size": 10})
    assert result.status == "success" and result.output_truncated
    assert isinstance(result.output, str) and result.output.endswith("...[truncated]")
    assert len(result.output.encode()) <= 2000
    assert small.output == "x" * 10 and not small.output_truncated


async def test_wrong_arguments_fail_cleanly_without_calling_the_function(
    peer: Any, serving: Any, spans: Any
) -> None:
    calls: list[int] = []
    registry = Registry()

    @registry.endpoint
    def add(a: int, b: int = 1) -> int:
        calls.append(1)
        return a + b

    async with serving(peer, registry):
        wrong_type = await peer.invoke("add", {"a": "one"})
        missing = await peer.invoke("add", {"b": 2})
        unexpected = await peer.invoke("add", {"a": 1, "c": 3})
        ok = await peer.invoke("add", {"a": 1})
    for failed in (wrong_type, missing, unexpected):
        assert failed.status == "error" and failed.error is not None
        assert failed.error.type == "InvalidArguments"
        assert failed.trace_id is None
    assert wrong_type.error and "a: expected integer, got string" in wrong_type.error.message
    assert missing.error and "missing required argument 'a'" in missing.error.message
    assert unexpected.error and "unexpected argument(s) ['c']" in unexpected.error.message
    assert ok.output == 2 and calls == [1]
    assert [s.name for s in spans.get_finished_spans()] == ["add"]  # only the call that ran


async def test_unknown_function_is_a_failed_result(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry()):
        result = await peer.invoke("nope", {})
        again = await peer.invoke("async_answer", {"question": "q"})
    assert result.status == "error" and result.error is not None
    assert result.error.type == "UnknownFunction"
    assert "'nope'" in result.error.message and "sync_answer" in result.error.message
    assert again.status == "success"


async def test_timeout_reports_timeout_and_ends_the_root_span(
    peer: Any, serving: Any, spans: Any
) -> None:
    registry = Registry()

    @registry.endpoint
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    async with serving(peer, registry):
        result = await peer.invoke("slow", {"seconds": 30}, context=CONTEXT, timeout_s=0.2)
        quick = await peer.invoke("slow", {"seconds": 0}, timeout_s=5)
    assert result.status == "timeout" and result.error is not None
    assert result.error.type == "TimeoutError" and "0.2 s" in result.error.message
    (root,) = _trace_spans(spans, result.trace_id or "")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "TimeoutError"
    assert quick.status == "success"


async def test_cancel_message_stops_an_invocation(peer: Any, serving: Any) -> None:
    registry = Registry()
    started = asyncio.Event()

    @registry.endpoint
    async def wait_forever() -> None:
        started.set()
        await asyncio.sleep(60)

    async with serving(peer, registry):
        future = peer.expect_result("inv-c")
        await peer.send(p.Invoke(invocation_id="inv-c", function="wait_forever"))
        await asyncio.wait_for(started.wait(), 5)
        await peer.send(p.Cancel(invocation_id="inv-c", reason="run cancelled by the user"))
        result = await asyncio.wait_for(future, 5)
    assert result.status == "cancelled"
    assert result.error == p.ErrorInfo(type="Cancelled", message="run cancelled by the user")


async def test_concurrency_is_bounded_and_excess_is_refused(peer: Any, serving: Any) -> None:
    registry = Registry()
    release = threading.Event()
    running = 0
    peak = 0
    lock = threading.Lock()

    @registry.endpoint
    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1
        return i

    async with serving(peer, registry, max_concurrency=2, max_pending=6) as client:
        futures = [peer.expect_result(f"w{i}") for i in range(9)]
        for i in range(9):
            await peer.send(p.Invoke(invocation_id=f"w{i}", function="work", arguments={"i": i}))
        # All nine are in while the first ones block: six accepted, three refused at once.
        refused = await asyncio.wait_for(asyncio.gather(*futures[6:]), 10)
        assert peak == 2
        release.set()
        accepted = await asyncio.wait_for(asyncio.gather(*futures[:6]), 10)
    assert [r.output for r in accepted] == list(range(6))
    assert all(r.status == "error" and r.error and r.error.type == "Overloaded" for r in refused)
    assert peak == 2 and client.stats.rejected == 3


async def test_span_count_can_be_turned_off(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry(), count_spans=False):
        result = await peer.invoke("async_answer", {"question": "q"})
    assert result.status == "success" and result.trace_id and result.span_count is None


@dataclass
class Order:
    sku: str
    quantity: int = 1


class Customer(pydantic.BaseModel):
    name: str
    vip: bool = False


async def test_dataclass_and_pydantic_arguments_are_built_from_json(
    peer: Any, serving: Any
) -> None:
    registry = Registry()
    seen: list[Any] = []

    @registry.endpoint
    async def place(order: Order, customer: Customer, note: str | None = None) -> dict[str, Any]:
        seen.append((order, customer))
        return {"total": order.quantity * 10, "for": customer}

    async with serving(peer, registry):
        ok = await peer.invoke(
            "place", {"order": {"sku": "A1", "quantity": 3}, "customer": {"name": "Ann"}}
        )
        bad = await peer.invoke("place", {"order": {"sku": "A1"}, "customer": {"vip": "yes"}})
    assert ok.status == "success"
    assert ok.output == {"total": 30, "for": {"name": "Ann", "vip": False}}
    assert seen == [(Order(sku="A1", quantity=3), Customer(name="Ann"))]
    assert bad.status == "error" and bad.error is not None
    assert bad.error.type == "InvalidArguments" and "customer:" in bad.error.message
    assert len(seen) == 1
