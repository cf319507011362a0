"""@observe: spans, names, kinds, sync/async/generators, methods, errors, bad input."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from spanlink.tracer import observe, semconv
from spanlink.tracer._observe import KINDS


def only(spans: InMemorySpanExporter) -> ReadableSpan:
    finished = spans.get_finished_spans()
    assert len(finished) == 1, [s.name for s in finished]
    return finished[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# --- forms of the decorator -----------------------------------------------------------


def test_bare_decorator_records_a_span_with_input_and_output(spans: InMemorySpanExporter) -> None:
    @observe
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, b=3) == 5
    span = only(spans)
    assert span.name.endswith("add")
    assert span.name == add.__qualname__
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span)[semconv.SPANLINK_KIND] == semconv.KIND_FUNCTION
    assert json.loads(attrs(span)[semconv.SPANLINK_INPUT]) == {"a": 2, "b": 3}
    assert json.loads(attrs(span)[semconv.SPANLINK_OUTPUT]) == 5
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "spanlink.tracer"


def test_called_decorator_with_options(spans: InMemorySpanExporter) -> None:
    @observe()
    def plain() -> str:
        return "x"

    @observe(
        name="custom",
        kind="guardrail",
        capture_input=False,
        capture_output=False,
        attributes={"team": "search", "weights": [1, 2]},
    )
    def checked(text: str) -> bool:
        return True

    plain()
    checked("secret")
    first, second = spans.get_finished_spans()
    assert first.name == plain.__qualname__
    assert second.name == "custom"
    a = attrs(second)
    assert a[semconv.SPANLINK_KIND] == semconv.KIND_GUARDRAIL
    assert a["team"] == "search"
    assert a["weights"] == (1, 2)
    assert semconv.SPANLINK_INPUT not in a
    assert semconv.SPANLINK_OUTPUT not in a


def test_nested_calls_build_a_tree(spans: InMemorySpanExporter) -> None:
    @observe
    def child(x: int) -> int:
        return x * 2

    @observe.agent(name="planner")
    def parent(x: int) -> int:
        return child(x) + child(x + 1)

    assert parent(1) == 6
    c1, c2, p = spans.get_finished_spans()
    assert p.name == "invoke_agent planner"
    assert p.parent is None
    for c in (c1, c2):
        assert c.parent is not None
        assert c.parent.span_id == p.context.span_id
        assert c.context.trace_id == p.context.trace_id


# --- typed helpers: names, kinds, required attributes at start ------------------------


class StartRecorder(SpanProcessor):
    """Records the attributes each span has when on_start runs (what samplers/processors see)."""

    def __init__(self) -> None:
        self.active = False
        self.seen: dict[str, dict[str, Any]] = {}

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        if self.active:
            self.seen[span.name] = dict(span.attributes or {})


@pytest.fixture(scope="session")
def start_recorder(tracer_provider: TracerProvider) -> StartRecorder:
    recorder = StartRecorder()
    tracer_provider.add_span_processor(recorder)
    return recorder


@pytest.fixture
def on_start(start_recorder: StartRecorder) -> Iterator[StartRecorder]:
    start_recorder.seen.clear()
    start_recorder.active = True
    yield start_recorder
    start_recorder.active = False
    start_recorder.seen.clear()


def test_helpers_span_names_kinds_and_attributes_at_start(
    spans: InMemorySpanExporter, on_start: StartRecorder
) -> None:
    @observe.llm(model="gpt-4o", provider="openai")
    def chat(prompt: str) -> str:
        return "ok"

    @observe.embedding(model="text-embedding-3-small", provider="openai")
    def embed(text: str) -> list[float]:
        return [0.1]

    @observe.tool(name="search", description="web search")
    def search_tool(q: str) -> str:
        return "r"

    @observe.tool()
    def calculator(expr: str) -> int:
        return 4

    @observe.agent(name="planner", agent_id="a-1")
    def run_agent(goal: str) -> str:
        return "done"

    @observe.retrieval()
    def retrieve(query: str) -> list[str]:
        return ["doc"]

    @observe.retrieval(data_source_id="kb-main")
    def retrieve_kb(query: str) -> list[str]:
        return ["doc"]

    @observe.rerank()
    def rerank(docs: list[str]) -> list[str]:
        return docs

    @observe.guardrail()
    def guard(text: str) -> bool:
        return True

    @observe.evaluation()
    def evaluate(answer: str) -> float:
        return 1.0

    @observe.chain()
    def pipeline(x: int) -> int:
        return x

    @observe.transform()
    def clean(x: str) -> str:
        return x

    chat("hi")
    embed("hi")
    search_tool("q")
    calculator("2+2")
    run_agent("g")
    retrieve("q")
    retrieve_kb("q")
    rerank(["a"])
    guard("t")
    evaluate("a")
    pipeline(1)
    clean("x")

    by_name = {s.name: s for s in spans.get_finished_spans()}
    expected = {
        "chat gpt-4o": (SpanKind.CLIENT, {"gen_ai.operation.name": "chat"}),
        "embeddings text-embedding-3-small": (
            SpanKind.CLIENT,
            {"gen_ai.operation.name": "embeddings"},
        ),
        "execute_tool search": (
            SpanKind.INTERNAL,
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        ),
        "execute_tool calculator": (SpanKind.INTERNAL, {"gen_ai.tool.name": "calculator"}),
        "invoke_agent planner": (
            SpanKind.INTERNAL,
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        ),
        "retrieval": (SpanKind.INTERNAL, {"gen_ai.operation.name": "retrieval"}),
        "retrieval kb-main": (SpanKind.INTERNAL, {"gen_ai.data_source.id": "kb-main"}),
        rerank.__qualname__: (SpanKind.INTERNAL, {"spanlink.kind": "rerank"}),
        guard.__qualname__: (SpanKind.INTERNAL, {"spanlink.kind": "guardrail"}),
        evaluate.__qualname__: (SpanKind.INTERNAL, {"spanlink.kind": "evaluation"}),
        pipeline.__qualname__: (SpanKind.INTERNAL, {"spanlink.kind": "chain"}),
        clean.__qualname__: (SpanKind.INTERNAL, {"spanlink.kind": "transform"}),
    }
    assert set(by_name) == set(expected)
    for name, (kind, wanted) in expected.items():
        assert by_name[name].kind is kind, name
        for key, value in wanted.items():
            assert attrs(by_name[name])[key] == value, (name, key)
    # Required GenAI attributes are there when processors see the span start.
    assert on_start.seen["chat gpt-4o"][semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert on_start.seen["chat gpt-4o"][semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert on_start.seen["chat gpt-4o"][semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert on_start.seen["execute_tool search"][semconv.GEN_AI_TOOL_NAME] == "search"
    assert on_start.seen["invoke_agent planner"][semconv.GEN_AI_AGENT_NAME] == "planner"
    assert (
        on_start.seen["embeddings text-embedding-3-small"][semconv.GEN_AI_REQUEST_MODEL]
        == "text-embedding-3-small"
    )
    assert attrs(by_name["execute_tool search"])[semconv.GEN_AI_TOOL_DESCRIPTION] == "web search"
    assert attrs(by_name["invoke_agent planner"])[semconv.GEN_AI_AGENT_ID] == "a-1"
    # GenAI kinds do not also carry spanlink.kind.
    assert semconv.SPANLINK_KIND not in attrs(by_name["chat gpt-4o"])


def test_llm_model_and_request_parameters_from_arguments(
    spans: InMemorySpanExporter, on_start: StartRecorder
) -> None:
    @observe.llm(provider="anthropic", operation="generate_content")
    def complete(
        model: str, prompt: str, temperature: float = 1.0, max_tokens: int = 10, stop: Any = None
    ) -> str:
        return "ok"

    complete("claude-sonnet-4", "hi", temperature=0.2, max_tokens=64, stop="END")
    span = only(spans)
    assert span.name == "generate_content claude-sonnet-4"
    a = attrs(span)
    assert a[semconv.GEN_AI_REQUEST_MODEL] == "claude-sonnet-4"
    assert a[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert on_start.seen[span.name][semconv.GEN_AI_REQUEST_MODEL] == "claude-sonnet-4"


def test_llm_without_model_is_named_by_operation(spans: InMemorySpanExporter) -> None:
    @observe.llm()
    def chat(prompt: str) -> str:
        return "ok"

    chat("x")
    span = only(spans)
    assert span.name == "chat"
    assert span.kind is SpanKind.CLIENT
    assert semconv.GEN_AI_REQUEST_MODEL not in attrs(span)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_accepted(spans: InMemorySpanExporter, kind: str) -> None:
    @observe(kind=kind)
    def step() -> int:
        return 1

    assert step() == 1
    key, value = KINDS[kind]
    assert attrs(only(spans))[key] == value


# --- sync, async, generators ---------------------------------------------------------


async def test_coroutine_function(spans: InMemorySpanExporter) -> None:
    @observe
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        assert trace.get_current_span().get_span_context().is_valid
        return n + 1

    assert inspect.iscoroutinefunction(fetch)
    assert await fetch(1) == 2
    span = only(spans)
    assert json.loads(attrs(span)[semconv.SPANLINK_OUTPUT]) == 2


async def test_concurrent_coroutines_get_separate_parents(spans: InMemorySpanExporter) -> None:
    @observe
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))
        return i

    @observe
    async def branch(i: int) -> int:
        return await leaf(i)

    assert await asyncio.gather(*(branch(i) for i in range(3))) == [0, 1, 2]
    finished = spans.get_finished_spans()
    branches = {
        json.loads(attrs(s)[semconv.SPANLINK_INPUT])["i"]: s for s in finished if "branch" in s.name
    }
    leaves = {
        json.loads(attrs(s)[semconv.SPANLINK_INPUT])["i"]: s for s in finished if "leaf" in s.name
    }
    for i in range(3):
        assert leaves[i].parent is not None
        assert leaves[i].parent.span_id == branches[i].context.span_id


def test_generator_span_covers_the_iteration(spans: InMemorySpanExporter) -> None:
    seen_inside: list[int] = []

    @observe
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            seen_inside.append(trace.get_current_span().get_span_context().span_id)
            yield f"t{i} "
        return None

    assert inspect.isgeneratorfunction(stream)
    gen = stream(3)
    assert spans.get_finished_spans() == ()  # nothing yet: not even started
    outside = trace.get_current_span()
    assert next(gen) == "t0 "
    # Between steps the caller does not see the generator's span as current.
    assert trace.get_current_span() is outside
    assert spans.get_finished_spans() == ()
    assert list(gen) == ["t1 ", "t2 "]
    span = only(spans)
    assert set(seen_inside) == {span.context.span_id}
    a = attrs(span)
    assert a[semconv.SPANLINK_OUTPUT_CHUNKS] == 3
    assert json.loads(a[semconv.SPANLINK_OUTPUT]) == "t0 t1 t2 "
    assert span.end_time is not None and span.start_time is not None


def test_generator_children_and_return_value(spans: InMemorySpanExporter) -> None:
    @observe
    def child(i: int) -> int:
        return i

    @observe
    def stream() -> Iterator[int]:
        yield child(1)
        yield child(2)
        return "finished"  # type: ignore[return-value]

    def consumer() -> Iterator[int]:
        result = yield from stream()
        assert result == "finished"

    assert list(consumer()) == [1, 2]
    *children, parent = spans.get_finished_spans()
    assert len(children) == 2
    for c in children:
        assert c.parent is not None and c.parent.span_id == parent.context.span_id
    assert json.loads(attrs(parent)[semconv.SPANLINK_OUTPUT]) == [1, 2]


def test_generator_closed_early_ends_the_span(spans: InMemorySpanExporter) -> None:
    cleaned: list[bool] = []

    @observe
    def stream() -> Iterator[int]:
        try:
            yield 1
            yield 2
            yield 3
        finally:
            cleaned.append(True)

    gen = stream()
    assert next(gen) == 1
    gen.close()
    assert cleaned == [True]
    span = only(spans)
    assert attrs(span)[semconv.SPANLINK_OUTPUT_CHUNKS] == 1
    assert span.status.status_code is StatusCode.UNSET


def test_generator_abandoned_is_ended_when_collected(spans: InMemorySpanExporter) -> None:
    @observe
    def stream() -> Iterator[int]:
        yield from range(10)

    gen = stream()
    next(gen)
    next(gen)
    del gen  # CPython collects it now: close() runs, the span ends
    assert attrs(only(spans))[semconv.SPANLINK_OUTPUT_CHUNKS] == 2


def test_generator_send_and_throw_are_forwarded(spans: InMemorySpanExporter) -> None:
    @observe
    def echo() -> Iterator[Any]:
        received = yield "ready"
        while True:
            try:
                received = yield f"got {received}"
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "got a"
    assert gen.throw(KeyError("k")) == "got recovered"
    gen.close()
    span = only(spans)
    assert attrs(span)[semconv.SPANLINK_OUTPUT_CHUNKS] == 3
    assert span.status.status_code is StatusCode.UNSET


def test_generator_exception_marks_error_and_propagates(spans: InMemorySpanExporter) -> None:
    boom = RuntimeError("mid-stream")

    @observe
    def stream() -> Iterator[int]:
        yield 1
        raise boom

    gen = stream()
    assert next(gen) == 1
    with pytest.raises(RuntimeError) as info:
        next(gen)
    assert info.value is boom
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.ERROR_TYPE] == "RuntimeError"
    assert attrs(span)[semconv.SPANLINK_OUTPUT_CHUNKS] == 1


async def test_async_generator(spans: InMemorySpanExporter) -> None:
    @observe
    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            assert trace.get_current_span().get_span_context().is_valid
            yield str(i)

    assert inspect.isasyncgenfunction(stream)
    outside = trace.get_current_span()
    agen = stream(3)
    assert await agen.__anext__() == "0"
    assert trace.get_current_span() is outside
    assert spans.get_finished_spans() == ()
    assert [x async for x in agen] == ["1", "2"]
    span = only(spans)
    assert attrs(span)[semconv.SPANLINK_OUTPUT_CHUNKS] == 3
    assert json.loads(attrs(span)[semconv.SPANLINK_OUTPUT]) == "012"


async def test_async_generator_aclose_and_error(spans: InMemorySpanExporter) -> None:
    @observe
    async def stream() -> AsyncIterator[int]:
        yield 1
        yield 2

    agen = stream()
    assert await agen.__anext__() == 1
    await agen.aclose()
    assert attrs(only(spans))[semconv.SPANLINK_OUTPUT_CHUNKS] == 1
    spans.clear()

    failure = ValueError("bad chunk")

    @observe
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise failure

    with pytest.raises(ValueError) as info:
        async for _ in failing():
            pass
    assert info.value is failure
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.SPANLINK_OUTPUT_CHUNKS] == 1


async def test_async_generator_athrow_is_forwarded(spans: InMemorySpanExporter) -> None:
    @observe
    async def resilient() -> AsyncIterator[str]:
        while True:
            try:
                yield "tick"
            except KeyError:
                yield "recovered"

    agen = resilient()
    assert await agen.__anext__() == "tick"
    assert await agen.athrow(KeyError("k")) == "recovered"
    await agen.aclose()
    assert attrs(only(spans))[semconv.SPANLINK_OUTPUT_CHUNKS] == 2


# --- methods and metadata ------------------------------------------------------------


class Service:
    prefix = "p"

    @observe
    def method(self, x: int) -> str:
        return f"{self.prefix}{x}"

    @observe
    @classmethod
    def outer_classmethod(cls, x: int) -> str:
        return f"{cls.prefix}{x}"

    @classmethod
    @observe
    def inner_classmethod(cls, x: int) -> str:
        return f"{cls.prefix}{x}"

    @observe
    @staticmethod
    def outer_staticmethod(x: int) -> int:
        return x

    @staticmethod
    @observe
    def inner_staticmethod(x: int) -> int:
        return x

    @observe
    async def amethod(self, x: int) -> int:
        return x


async def test_methods_classmethods_staticmethods(spans: InMemorySpanExporter) -> None:
    svc = Service()
    assert svc.method(1) == "p1"
    assert Service.outer_classmethod(2) == "p2"
    assert svc.inner_classmethod(3) == "p3"
    assert Service.outer_staticmethod(4) == 4
    assert svc.inner_staticmethod(5) == 5
    assert await svc.amethod(6) == 6
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == [
        "Service.method",
        "Service.outer_classmethod",
        "Service.inner_classmethod",
        "Service.outer_staticmethod",
        "Service.inner_staticmethod",
        "Service.amethod",
    ]
    # self / cls are never captured.
    inputs = [json.loads(attrs(s)[semconv.SPANLINK_INPUT]) for s in finished]
    assert inputs == [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}, {"x": 5}, {"x": 6}]


def test_wraps_metadata_and_signature_preserved() -> None:
    def original(a: int, b: str = "x", *rest: int, flag: bool = False, **extra: Any) -> str:
        """Docstring."""
        return b

    async def coro(a: int) -> int:
        return a

    def gen(a: int) -> Iterator[int]:
        yield a

    async def agen(a: int) -> AsyncIterator[int]:
        yield a

    wrapped = observe(original)
    assert wrapped.__name__ == "original"
    assert wrapped.__doc__ == "Docstring."
    assert wrapped.__qualname__ == original.__qualname__
    assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert inspect.iscoroutinefunction(observe(coro))
    assert not inspect.iscoroutinefunction(wrapped)
    assert inspect.isgeneratorfunction(observe(gen))
    assert inspect.isasyncgenfunction(observe(agen))
    assert inspect.signature(observe.llm(model="m")(coro)) == inspect.signature(coro)


def test_varargs_kwargs_and_partial_binding(spans: InMemorySpanExporter) -> None:
    @observe
    def f(a: int, *rest: int, flag: bool = False, **extra: Any) -> int:
        return a

    f(1, 2, 3, flag=True, color="red")
    assert json.loads(attrs(only(spans))[semconv.SPANLINK_INPUT]) == {
        "a": 1,
        "rest": [2, 3],
        "flag": True,
        "extra": {"color": "red"},
    }
    spans.clear()

    def g(a: int, b: int, flag: bool = False) -> int:
        return a + b

    partial = observe(functools.partial(g, 10))
    assert partial(5, flag=False) == 15
    span = only(spans)
    assert span.name == g.__qualname__
    assert json.loads(attrs(span)[semconv.SPANLINK_INPUT]) == {"b": 5, "flag": False}


def test_callable_object(spans: InMemorySpanExporter) -> None:
    class Scorer:
        def __call__(self, text: str) -> int:
            return len(text)

    scorer = observe(Scorer())
    assert scorer("abc") == 3
    assert json.loads(attrs(only(spans))[semconv.SPANLINK_INPUT]) == {"text": "abc"}


# --- exceptions ----------------------------------------------------------------------


def test_exception_recorded_and_reraised_unchanged(spans: InMemorySpanExporter) -> None:
    class QuotaError(Exception):
        pass

    error = QuotaError("over quota")

    @observe
    def call() -> None:
        raise error

    with pytest.raises(QuotaError) as info:
        call()
    assert info.value is error
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "call"
    assert frames[-1].line == "raise error"
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert "over quota" in (span.status.description or "")
    assert attrs(span)[semconv.ERROR_TYPE] == f"{__name__}.{QuotaError.__qualname__}"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "over quota"
    assert semconv.SPANLINK_OUTPUT not in attrs(span)


async def test_async_exception_reraised_unchanged(spans: InMemorySpanExporter) -> None:
    error = ValueError("async boom")

    @observe.tool(name="t")
    async def call() -> None:
        await asyncio.sleep(0)
        raise error

    with pytest.raises(ValueError) as info:
        await call()
    assert info.value is error
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.ERROR_TYPE] == "ValueError"


def test_exception_whose_str_raises(spans: InMemorySpanExporter) -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    error = Nasty()

    @observe
    def call() -> None:
        raise error

    with pytest.raises(Nasty) as info:
        call()
    assert info.value is error
    span = only(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.ERROR_TYPE].endswith("Nasty")


def test_base_exceptions_end_the_span_without_error(spans: InMemorySpanExporter) -> None:
    @observe
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    span = only(spans)
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET


# --- interop with stock OpenTelemetry ------------------------------------------------


def test_interop_with_stock_tracer_spans(spans: InMemorySpanExporter) -> None:
    stock = trace.get_tracer("stock.instrumentation")

    @observe
    def inner() -> str:
        with stock.start_as_current_span("stock-child"):
            return "x"

    with stock.start_as_current_span("stock-root"):
        inner()
    child, observed, root = spans.get_finished_spans()
    assert (child.name, root.name) == ("stock-child", "stock-root")
    assert observed.parent is not None and observed.parent.span_id == root.context.span_id
    assert child.parent is not None and child.parent.span_id == observed.context.span_id


def test_provider_set_after_decoration_is_used() -> None:
    """In a fresh interpreter: decorate first, set the global provider later."""
    code = textwrap.dedent(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from spanlink.tracer import observe

        @observe
        def f(x):
            return x

        before = f(1)  # no provider yet: a no-op span, the call still works
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        after = f(2)
        print(json.dumps({"results": [before, after],
                          "spans": [s.name for s in exporter.get_finished_spans()]}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"results": [1, 2], "spans": ["f"]}


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("target", [42, None, "text", object(), [1, 2]])
def test_decorating_a_non_callable_raises_type_error(target: Any) -> None:
    with pytest.raises(TypeError, match="observe"):
        observe()(target)


def test_decorating_non_callables_directly() -> None:
    with pytest.raises(TypeError, match="not int"):
        observe(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"name='my span'"):
        observe("my span")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="decorate its methods"):

        @observe
        class NotAFunction:
            pass


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"kind": "banana"}, ValueError, "known kind"),
        ({"name": ""}, TypeError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"capture_input": "yes"}, TypeError, "capture_input"),
        ({"mask": "not callable"}, TypeError, "mask"),
        ({"attributes": ["a"]}, TypeError, "attributes"),
        ({"attributes": {"k": {"nested": 1}}}, TypeError, "attribute value"),
        ({"attributes": {"k": [1, "mixed"]}}, TypeError, "attribute value"),
        ({"attributes": {"": 1}}, TypeError, "keys"),
    ],
)
def test_bad_options_fail_at_decoration_time(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        observe(**options)


def test_bad_helper_options() -> None:
    with pytest.raises(ValueError, match="operation"):
        observe.llm(operation="embeddings")
    with pytest.raises(TypeError, match="model"):
        observe.llm(model=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="provider"):
        observe.embedding(provider="")


class RaisingProcessor(SpanProcessor):
    """A broken span processor, raising only while a test turns it on."""

    def __init__(self) -> None:
        self.on_start_raises = False
        self.on_end_raises = False

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        if self.on_start_raises:
            raise RuntimeError("processor on_start bug")

    def on_end(self, span: ReadableSpan) -> None:
        if self.on_end_raises:
            raise RuntimeError("processor on_end bug")


@pytest.fixture(scope="session")
def raising_processor(tracer_provider: TracerProvider) -> RaisingProcessor:
    processor = RaisingProcessor()
    tracer_provider.add_span_processor(processor)
    return processor


@pytest.fixture
def broken_processor(raising_processor: RaisingProcessor) -> Iterator[RaisingProcessor]:
    yield raising_processor
    raising_processor.on_start_raises = False
    raising_processor.on_end_raises = False


def test_a_raising_span_processor_never_reaches_user_code(
    spans: InMemorySpanExporter, broken_processor: RaisingProcessor
) -> None:
    result = object()

    @observe
    def call() -> object:
        return result

    @observe
    def fail() -> None:
        raise KeyError("user error")

    @observe
    def stream() -> Iterator[int]:
        yield 1

    broken_processor.on_end_raises = True
    assert call() is result
    with pytest.raises(KeyError, match="user error"):
        fail()
    assert list(stream()) == [1]
    # The processors before the broken one still got the spans.
    assert len(spans.get_finished_spans()) == 3
    broken_processor.on_end_raises = False
    broken_processor.on_start_raises = True
    assert call() is result  # could not start a span: the call runs untraced
    assert list(stream()) == [1]


def test_no_content_work_before_a_provider_exists() -> None:
    """In a fresh interpreter with no SDK provider, masks (content capture) never run."""
    code = textwrap.dedent(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from spanlink.tracer import observe

        calls = []

        def mask(value):
            calls.append(value)
            return value

        @observe(mask=mask)
        def f(x):
            return x

        f(1)
        before = len(calls)
        trace.set_tracer_provider(TracerProvider())
        f(2)
        print(json.dumps({"before": before, "after": len(calls)}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"before": 0, "after": 2}


def test_unhashable_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="known kind"):
        observe(kind=["llm"])  # type: ignore[arg-type]


def test_recursive_observed_generators_nest(spans: InMemorySpanExporter) -> None:
    @observe(name="walk")
    def walk(depth: int) -> Iterator[int]:
        yield depth
        if depth:
            yield from walk(depth - 1)

    assert list(walk(3)) == [3, 2, 1, 0]
    finished = spans.get_finished_spans()
    assert len(finished) == 4
    by_depth = {json.loads(attrs(s)[semconv.SPANLINK_INPUT])["depth"]: s for s in finished}
    assert by_depth[3].parent is None
    for depth in range(3):
        parent = by_depth[depth].parent
        assert parent is not None and parent.span_id == by_depth[depth + 1].context.span_id
    assert attrs(by_depth[3])[semconv.SPANLINK_OUTPUT_CHUNKS] == 4


def test_generator_consumed_in_another_thread(spans: InMemorySpanExporter) -> None:
    from concurrent.futures import ThreadPoolExecutor

    @observe
    def stream() -> Iterator[int]:
        yield 1
        yield 2

    gen = stream()
    assert next(gen) == 1
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(list, gen).result(timeout=10) == [2]
    assert attrs(only(spans))[semconv.SPANLINK_OUTPUT_CHUNKS] == 2


async def test_cancelled_coroutine_ends_its_span(spans: InMemorySpanExporter) -> None:
    started = asyncio.Event()

    @observe
    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = only(spans)
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET
    assert not trace.get_current_span().get_span_context().is_valid


def test_retrieval_query_text_is_plain_masked_text(spans: InMemorySpanExporter) -> None:
    @observe.retrieval(mask=lambda v: v.replace("secret", "***") if isinstance(v, str) else v)
    def search(query: str, k: int = 3) -> list[str]:
        return ["doc"]

    search('a "secret" query\n')
    assert attrs(only(spans))[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == 'a "***" query\n'


def test_explicit_output_wins_in_generators(spans: InMemorySpanExporter) -> None:
    from spanlink.tracer._span_handle import current_observation

    @observe
    def stream() -> Iterator[str]:
        yield "raw"
        current_observation().update(output={"summary": "explicit"})

    assert list(stream()) == ["raw"]
    a = attrs(only(spans))
    assert json.loads(a[semconv.SPANLINK_OUTPUT]) == {"summary": "explicit"}
    assert a[semconv.SPANLINK_OUTPUT_CHUNKS] == 1
