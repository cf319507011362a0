"""A real OTLP/HTTP receiver on loopback that records requests and can be told to misbehave,
plus spans made by a real OpenTelemetry SDK pipeline."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState


@dataclass
class Recorded:
    """One request as the receiver saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes
    status: int
    at: float

    def decode(self) -> ExportTraceServiceRequest:
        """The OTLP request, from protobuf or OTLP/JSON."""
        return decode_request(self.body, self.headers.get("content-type", ""))


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse an OTLP/HTTP body; OTLP/JSON hex ids are turned back into bytes first."""
    if "json" in content_type:
        data = json.loads(body)
        for rs in data.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    _hex_to_b64(span, ("traceId", "spanId", "parentSpanId"))
                    for link in span.get("links", []):
                        _hex_to_b64(link, ("traceId", "spanId"))
        return json_format.ParseDict(data, ExportTraceServiceRequest())
    return ExportTraceServiceRequest.FromString(body)


def _hex_to_b64(obj: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in obj:
            obj[key] = base64.b64encode(bytes.fromhex(obj[key])).decode()


@dataclass
class Behavior:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stall: float = 0.0
    close: bool = False
    #: Seconds between single bytes of the answer: a receiver that never trips a read timeout.
    trickle: float = 0.0
    #: Send the status line and headers at once and trickle only the body.
    trickle_body_only: bool = False


class Receiver:
    """``ThreadingHTTPServer`` on 127.0.0.1 recording every request to ``/v1/traces``.

    ``plan(*behaviors)`` queues answers consumed one per request; when the queue is empty
    ``default`` is used. ``stop()`` makes the port refuse connections; ``start()`` brings the
    receiver back on the same port.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.default = Behavior()
        self._plan: deque[Behavior] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *behaviors: Behavior) -> None:
        with self._lock:
            self._plan.extend(behaviors)

    def next_behavior(self) -> Behavior:
        with self._lock:
            return self._plan.popleft() if self._plan else self.default

    def record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def delivered(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def delivered_spans(self) -> list[Any]:
        """Every span of every 2xx-answered request, in arrival order."""
        spans = []
        for recorded in self.delivered():
            for rs in recorded.decode().resource_spans:
                for ss in rs.scope_spans:
                    spans.extend(ss.spans)
        return spans

    def wait_for_spans(self, count: int, timeout: float = 20.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.delivered_spans()
            if len(spans) >= count:
                return spans
            time.sleep(0.02)
        return self.delivered_spans()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
                behavior = receiver.next_behavior()
                status = 0 if behavior.close else behavior.status
                receiver.record(Recorded(self.path, headers, raw, body, status, time.monotonic()))
                if behavior.stall:
                    receiver._release.wait(behavior.stall)
                if behavior.close:
                    self.close_connection = True
                    return
                if behavior.trickle:
                    self._trickle(behavior)
                    return
                self.send_response(behavior.status)
                payload = behavior.body
                if not payload and 200 <= behavior.status < 300:
                    payload = ExportTraceServiceResponse().SerializeToString()
                ctype = "application/x-protobuf"
                if "json" in headers.get("content-type", ""):
                    ctype = "application/json"
                    if payload == b"":
                        payload = b"{}"
                for key, value in {"content-type": ctype, **behavior.headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up waiting (deadline)

            def _trickle(self, behavior: Behavior) -> None:
                payload = behavior.body or b"x" * 400
                head = (
                    f"HTTP/1.1 {behavior.status} OK\r\ncontent-type: text/plain\r\n"
                    f"content-length: {len(payload)}\r\n\r\n"
                ).encode()
                if behavior.trickle_body_only:
                    self.wfile.write(head)
                    self.wfile.flush()
                    data = payload
                else:
                    data = head + payload
                self.close_connection = True
                for i in range(len(data)):
                    if receiver._release.wait(behavior.trickle):
                        return  # the receiver is stopping
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up and closed the connection

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._release.clear()
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections, as a crashed receiver would."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


def _pipeline(resource: Resource) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def make_spans(count: int = 5, message_size: int = 64) -> list[ReadableSpan]:
    """Realistic AI spans from a real SDK pipeline: every attribute type, events, links,
    status, a remote parent, two resources and three instrumentation scopes."""
    provider, memory = _pipeline(
        Resource.create({"service.name": "chat-app", "deployment.environment": "test"})
    )
    other, other_memory = _pipeline(Resource({"service.name": "worker", "pid": 42}, "https://s/1"))
    tracer = provider.get_tracer("spanlink.tracer", "0.1.0", schema_url="https://schema/1")
    tool_tracer = provider.get_tracer("tools", attributes={"team": "search"})
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "abc")]),
    )
    linked = SpanContext(0x1234, 0x5678, is_remote=False)
    from opentelemetry import trace as trace_api

    for i in range(count):
        parent_ctx = trace_api.set_span_in_context(trace_api.NonRecordingSpan(remote_parent))
        with tracer.start_as_current_span(
            f"chat gpt-4o-{i % 3}",
            context=parent_ctx if i % 2 == 0 else None,
            kind=SpanKind.CLIENT,
            links=[Link(linked, {"link.kind": "retry", "n": i})],
        ) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": -i,
                    "gen_ai.request.temperature": 0.25 * i,
                    "gen_ai.input.messages": ("m" * message_size) + f"-{i}-é漢",
                    "stream": i % 2 == 0,
                    "tags": ["a", "b", f"c{i}"],
                    "scores": [0.5, 1.5],
                    "ids": [1, 2, 3],
                    "flags": [True, False],
                    "big": 2**62,
                    "empty": "",
                    "blob": b"\x00\x01raw",
                }
            )
            span.add_event("gen_ai.choice", {"index": i, "finish_reason": "stop"})
            span.add_event("no attributes")
            if i % 3 == 1:
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
            elif i % 3 == 2:
                span.set_status(Status(StatusCode.OK))
            with tool_tracer.start_as_current_span("execute_tool search") as child:
                child.set_attribute("gen_ai.tool.name", "search")
        with other.get_tracer("worker.jobs").start_as_current_span("job", kind=SpanKind.CONSUMER):
            pass
    return list(memory.get_finished_spans()) + list(other_memory.get_finished_spans())


@pytest.fixture
def spans() -> list[ReadableSpan]:
    return make_spans()


def span_key(span: Any) -> tuple[bytes, bytes]:
    return (span.trace_id, span.span_id)


@pytest.fixture
def span_factory() -> Any:
    """``make_spans(count, message_size)``."""
    return make_spans


@pytest.fixture
def decode() -> Any:
    """``decode_request(body, content_type)``."""
    return decode_request


@pytest.fixture
def conftest_behavior() -> Any:
    """``Behavior(status=, headers=, body=, stall=, close=)``."""
    return Behavior
