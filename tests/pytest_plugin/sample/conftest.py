"""The sample project's second service: an HTTP server that continues the caller's trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # W3C header names are case-insensitive; the dict getter is not.
        context = propagate.extract({k.lower(): v for k, v in self.headers.items()})
        tracer = trace.get_tracer("second-service")
        with tracer.start_as_current_span(
            "second service handle", context=context, kind=SpanKind.SERVER
        ):
            body = b"done"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def second_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
