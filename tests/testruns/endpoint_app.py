"""A small application serving ``@endpoint`` functions, run in a subprocess by the tests.

``python endpoint_app.py URL API_KEY [ENVIRONMENT]``: sets up spanlink with ``configure()``
(spans exported to the receiver at URL), starts a downstream HTTP service with its own
``TracerProvider`` (a second "service" that receives the test context through W3C
baggage), connects the endpoint client and serves until stdin closes. Prints ``ready`` once
registered.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spanlink.endpoint import connect, endpoint
from spanlink.exporter import SpanlinkExporter
from spanlink.tracer import SpanlinkProcessor, configure
from spanlink.tracer.plugins import get_plugin_manager

URL, API_KEY = sys.argv[1], sys.argv[2]
ENVIRONMENT = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None

configure(endpoint=URL, api_key=API_KEY, service_name="endpoint-app", environment=ENVIRONMENT)
tracer = trace.get_tracer("endpoint-app")

# The downstream service: its own provider, exporter and SpanlinkProcessor (which stamps
# the test context it finds in the incoming request's baggage).
downstream_provider = TracerProvider(resource=Resource.create({"service.name": "downstream"}))
downstream_processor = BatchSpanProcessor(SpanlinkExporter(endpoint=URL, api_key=API_KEY))
downstream_provider.add_span_processor(
    SpanlinkProcessor(processor=downstream_processor, plugin_manager=get_plugin_manager())
)
downstream_tracer = downstream_provider.get_tracer("downstream")


class Downstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        context = propagate.extract({k.lower(): v for k, v in self.headers.items()})
        with downstream_tracer.start_as_current_span("downstream handle", context=context):
            with downstream_tracer.start_as_current_span("downstream lookup"):
                pass
        downstream_provider.force_flush(5000)  # stored before the caller reports its result
        body = b"downstream-ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Downstream)
threading.Thread(target=server.serve_forever, daemon=True).start()
DOWNSTREAM = f"http://127.0.0.1:{server.server_address[1]}/"


def _llm_span(index: int) -> None:
    with tracer.start_as_current_span(f"chat gpt-4o-mini #{index}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 100)
        span.set_attribute("gen_ai.usage.output_tokens", 20)


@endpoint
def answer(question: str, spans: int = 20) -> str:
    """Answers with ``spans`` spans in the invocation (the root included)."""
    for index in range(max(spans - 1, 0)):
        _llm_span(index)
    return f"answer to {question}"


@endpoint
async def slow(seconds: float) -> str:
    """Sleeps, then answers."""
    await asyncio.sleep(seconds)
    return "done"


@endpoint
def boom(question: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot answer {question!r}")


@endpoint
def downstream(question: str) -> str:
    """Calls the downstream service over HTTP, propagating the context in the headers."""
    with tracer.start_as_current_span("GET downstream", kind=trace.SpanKind.CLIENT):
        headers: dict[str, str] = {}
        propagate.inject(headers)  # traceparent + baggage (the test context)
        request = urllib.request.Request(DOWNSTREAM, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"{question}: {response.read().decode()}"


def _late_spans(run_id: str, case_id: str, parent: trace.SpanContext, delay: float) -> None:
    # A plain thread: no test context of its own, so these spans carry only what is set here.
    time.sleep(delay)
    for index in range(3):  # several spans with run + case ids only, in one batch
        with tracer.start_as_current_span(
            f"late by case #{index}",
            context=Context(),
            attributes={"spanlink.test.run_id": run_id, "spanlink.test.case_id": case_id},
        ):
            pass
    # A span of the invocation's trace with no test ids at all: linked by the trace id.
    parent_context = trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())
    with tracer.start_as_current_span("late by trace", context=parent_context):
        pass
    trace.get_tracer_provider().force_flush(5000)  # type: ignore[attr-defined]


@endpoint
def late(question: str, delay: float = 0.5) -> str:
    """Answers at once; more spans of this case are exported ``delay`` s after the result."""
    from spanlink.tracer import current_test_context

    test = current_test_context()
    assert test is not None and test.run_id and test.case_id
    parent = trace.get_current_span().get_span_context()
    threading.Thread(
        target=_late_spans, args=(test.run_id, test.case_id, parent, delay), daemon=True
    ).start()
    return f"late {question}"


@endpoint
def gated_words(words: list[str], gate: str) -> Iterator[str]:
    """Yields the words; before word n > 0 waits (up to 20 s) for the file ``gate/n``."""
    for index, word in enumerate(words):
        deadline = time.monotonic() + 20
        while index and not (Path(gate) / str(index)).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {index} was never opened")
            time.sleep(0.02)
        yield word


@endpoint
async def many_chunks(count: int) -> AsyncIterator[str]:
    """Yields ``count`` one-character chunks."""
    for _ in range(count):
        yield "x"


def _tool_span(name: str, error: str | None = None) -> None:
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))


def _late_tool(test: Any, parent: trace.SpanContext, name: str, delay: float) -> None:
    from spanlink.tracer import test_context

    time.sleep(delay)
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())
    with test_context(run_id=test.run_id, case_id=test.case_id, result_id=test.result_id):
        token = attach(context)
        try:
            _tool_span(name)
        finally:
            detach(token)
    trace.get_tracer_provider().force_flush(5000)  # type: ignore[attr-defined]


@endpoint
def agent(
    question: str,
    tools: list[str] | None = None,
    failing_tool: str | None = None,
    input_tokens: int = 100,
    late_tool: str | None = None,
    late_delay: float = 1.0,
) -> str:
    """An agent: one model call using ``input_tokens``, then the ``tools`` in order (a tool
    span each; ``failing_tool`` ends in an error). ``late_tool`` is executed in the
    background and its span exported ``late_delay`` s after the result."""
    from spanlink.tracer import current_test_context

    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", 10)
    for name in tools or []:
        _tool_span(name, error="tool failed" if name == failing_tool else None)
    if late_tool is not None:
        test = current_test_context()
        parent = trace.get_current_span().get_span_context()
        threading.Thread(
            target=_late_tool, args=(test, parent, late_tool, late_delay), daemon=True
        ).start()
    return f"Answer: {question}"


async def main() -> None:
    client = connect(
        URL,
        API_KEY,
        ENVIRONMENT,
        reconnect_initial_s=0.1,
        reconnect_max_s=0.5,
        max_concurrency=8,
    )
    task = asyncio.ensure_future(client.run())
    if not await client.wait_registered(30):
        print("not registered", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await client.aclose()
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
