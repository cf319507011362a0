"""Helpers of the trace viewer tests (imported as ``ui_helpers``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

#: Screenshots of each page, kept as test artifacts (gitignored, never committed).
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"

#: The agent trace's spans in depth-first order: (name, depth).
AGENT_TREE = [
    ("invoke_agent planner", 0),
    ("chat gpt-4o", 1),
    ("execute_tool search", 1),
    ("GET /search", 2),
    ("execute_tool book", 1),
    ("chat gpt-4o-mini", 1),
]


def sign_in(page: Any, base_url: str, key: str, hash_route: str = "#/traces") -> None:
    """Open the viewer and sign in through its form."""
    page.goto(f"{base_url}/ui/{hash_route}")
    page.wait_for_selector("main[data-rendered=signin]")
    page.fill("#api-key", key)
    page.click("form.signin button[type=submit]")
    wait_rendered(page)


def wait_rendered(page: Any, name: str | None = None, timeout: float = 15_000) -> None:
    """Wait until the view reports it rendered (``main[data-rendered]``)."""
    if name is None:
        page.wait_for_function(
            "() => { const r = document.getElementById('view').dataset.rendered;"
            " return !!r && r !== 'signin'; }",
            timeout=timeout,
        )
    else:
        page.wait_for_selector(f"main[data-rendered={name}]", timeout=timeout)


def screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot under test-artifacts/ui/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_enrichment(client: httpx.Client, trace_id: str, timeout: float = 30.0) -> Any:
    """The trace once the receiver has stored its enrichment for all its spans."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/traces/{trace_id}").json()
        enrichment = body.get("enrichment")
        if enrichment and (enrichment.get("span_count") or 0) >= body["span_count"]:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"no enrichment for trace {trace_id} within {timeout} s")
        time.sleep(0.1)


def js_cost(usd: float) -> str:
    """The viewer's money format (format.js ``cost``)."""
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return "$" + f"{float(f'{usd:.2g}')!r}"
    return f"${usd:.{4 if usd < 10 else 2}f}"


@contextmanager
def _chat(tracer: Any, model: str, input_tokens: int, output_tokens: int) -> Iterator[Any]:
    """An OpenAI chat span with token usage (so the cost plugin prices it), current inside."""
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.provider.name", "openai")
        chat.set_attribute("gen_ai.request.model", model)
        chat.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        chat.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        yield chat


def send_agent_trace(base_url: str, key: str, environment: str = "staging") -> str:
    """An agent run (two LLM calls, a tool with an HTTP call, a failing tool) sent with the
    stock OpenTelemetry SDK and OTLP/HTTP exporter; returns the trace id."""
    exporter = OTLPSpanExporter(
        endpoint=f"{base_url}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "travel-agent", "deployment.environment.name": environment}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("ui-tests", "1.0")
    with tracer.start_as_current_span("invoke_agent planner", kind=SpanKind.SERVER) as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "planner")
        root.set_attribute("spanlink.input", json.dumps({"question": "Trip to Lisbon?"}))
        with _chat(tracer, "gpt-4o", 1200, 350) as chat:
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Lisbon?"}]}]),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}]}]
                ),
            )
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "search")
            with tracer.start_as_current_span("GET /search", kind=SpanKind.CLIENT) as http:
                http.set_attribute("http.request.method", "GET")
        with tracer.start_as_current_span("execute_tool book", record_exception=False) as book:
            book.set_attribute("gen_ai.operation.name", "execute_tool")
            book.set_attribute("gen_ai.tool.name", "book")
            try:
                raise RuntimeError("no seats left on flight TP1234")
            except RuntimeError as error:
                book.record_exception(error)
                book.set_status(Status(StatusCode.ERROR, "no seats left"))
                book.set_attribute("error.type", "RuntimeError")
        with _chat(tracer, "gpt-4o-mini", 300, 20):
            pass
    provider.shutdown()
    return f"{root.get_span_context().trace_id:032x}"


def large_trace_requests(span_count: int, batch: int = 2500) -> tuple[str, list[Any]]:
    """OTLP requests holding one trace of ``span_count`` spans: a root, steps under it and
    calls under each step (every 5th an LLM call, every 500th failing)."""
    from receiver_helpers import NOW, make_request, make_span, span_id, trace_id

    tid = trace_id()
    root = span_id()
    spans = [make_span(tid, root, name="large run", duration_ns=(span_count + 10) * 1_000_000)]
    per_step = 100
    step_id = root
    for i in range(1, span_count):
        start = NOW + i * 1_000_000
        if i % per_step == 1:
            step_id = span_id()
            spans.append(make_span(tid, step_id, root, f"step {i // per_step}", start, 99_000_000))
            continue
        attributes: dict[str, Any] = {"index": i}
        if i % 5 == 0:
            attributes |= {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 100 + i % 50,
                "gen_ai.usage.output_tokens": 20,
            }
        spans.append(
            make_span(
                tid,
                span_id(),
                step_id,
                f"call {i}",
                start,
                800_000,
                attributes,
                error="failed" if i % 500 == 0 else None,
            )
        )
    requests = [make_request(spans[k : k + batch]) for k in range(0, len(spans), batch)]
    return tid.hex(), requests
