"""An application set up with ``configure()`` and the stock OTLP/HTTP exporter, in its own
process: when the result of an invocation arrives, every span of it is already at the OTLP
endpoint (force-flushed), stamped with the test context and in the reported trace."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

APP = """
import sys, time
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from spanlink.endpoint import connect, endpoint
from spanlink.tracer import configure, observe

configure(service_name="interop-app", exporter=OTLPSpanExporter(endpoint=sys.argv[1]))

@observe.tool(name="lookup")
def lookup(i: int) -> int:
    return i * 2

@endpoint
def answer(question: str, steps: int) -> str:
    total = sum(lookup(i) for i in range(steps))
    return f"{question}: {total}"

client = connect(sys.argv[2], api_key="sk-test-123").start()
sys.stdin.read()  # serve until the test closes our stdin
print("stopped" if client.stop(5) else "stop timed out", flush=True)
"""


class _Collector(BaseHTTPRequestHandler):
    requests: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.requests.append(request)  # stored before the exporter hears back
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []
    handler = type("Collector", (_Collector,), {"requests": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def _spans(received: list[ExportTraceServiceRequest], trace_id: str) -> list[Any]:
    return [
        span
        for request in received
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
        if span.trace_id.hex() == trace_id
    ]


async def _start_app(source: str, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """Run ``source`` in a Python subprocess with ``args``; it stops when stdin closes."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(source),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_spans_are_at_the_otlp_endpoint_before_the_result(
    peer: Any, collector: tuple[str, list[ExportTraceServiceRequest]]
) -> None:
    otlp_url, received = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"  # only a force-flush exports before a minute
    app = await _start_app(APP, env, otlp_url, peer.url)
    try:
        await peer.wait_registered(timeout=30)
        context = {"run_id": "run-9", "case_id": "case-1", "result_id": "res-1"}
        result = await peer.invoke("answer", {"question": "sum", "steps": 19}, context=context)
        # Read at once: the BatchSpanProcessor's own schedule has not fired.
        spans = _spans(received, result.trace_id or "")
        assert result.status == "success" and result.output == "sum: 342"
        assert len(spans) == 20 == result.span_count, len(spans)
        for span in spans:
            attributes = {a.key: a.value.string_value for a in span.attributes}
            assert attributes["spanlink.test.run_id"] == "run-9"
            assert attributes["spanlink.test.case_id"] == "case-1"
            assert attributes["spanlink.test.result_id"] == "res-1"
        (root,) = [s for s in spans if not s.parent_span_id]
        assert root.name == "answer"
    finally:
        out, err = await asyncio.wait_for(app.communicate(b""), 30)
    assert app.returncode == 0, err.decode()
    assert out.decode().strip() == "stopped", err.decode()


NO_TRACING_APP = """
import sys
from spanlink.endpoint import connect, endpoint

@endpoint
def shout(text: str) -> str:
    return text.upper()

client = connect(sys.argv[1], api_key="sk-test-123").start()
sys.stdin.read()
print("stopped" if client.stop(5) else "stop timed out", flush=True)
"""


async def test_an_app_without_any_tracing_set_up_still_answers(peer: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLINK_", "OTEL_"))}
    app = await _start_app(NO_TRACING_APP, env, peer.url)
    try:
        await peer.wait_registered(timeout=30)
        result = await peer.invoke("shout", {"text": "hi"})
    finally:
        out, err = await asyncio.wait_for(app.communicate(b""), 30)
    assert result.status == "success" and result.output == "HI"
    assert result.trace_id is None and result.span_count is None  # no SDK provider: no spans
    assert out.decode().strip() == "stopped", err.decode()
