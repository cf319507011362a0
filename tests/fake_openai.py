"""A local fake OpenAI-compatible server (real HTTP on loopback) for the suite's model calls.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` (and any other POST) by replaying its
``replies`` (the last one repeats), or by calling ``respond`` with each request's body, and
records every request. A reply can be a chat
completion with chosen content, model and usage, a raw body, an error status, or held until
the test releases it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["USAGE", "FakeOpenAI", "Reply"]

USAGE: dict[str, Any] = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
"""The usage of a reply that names none."""


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    content: str | None = '{"score": 0.8, "explanation": "clear and correct"}'
    body: str | None = None  # raw body instead of a chat completion
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait until the test releases it
    model: str | None = None  # the response's model; None echoes the requested one
    usage: dict[str, Any] = field(default_factory=lambda: dict(USAGE))
    finish_reason: str = "stop"


def completion(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """The chat completion ``reply`` stands for, answering ``request``."""
    return {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": reply.model or request.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": reply.usage,
    }


class FakeOpenAI:
    """A chat-completions server replaying ``replies`` (the last one repeats)."""

    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.replies: list[Reply] = replies or [Reply()]
        #: When set, answers each request from its JSON body instead of ``replies``.
        self.respond: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                    reply = fake.replies[min(len(fake.requests), len(fake.replies)) - 1]
                    if fake.respond is not None:
                        reply = fake.respond(body)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    if reply.hold:
                        fake.release.wait(20)
                    if reply.body is not None:
                        payload = reply.body.encode()
                    else:
                        payload = json.dumps(completion(reply, body)).encode()
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        """Release held replies and stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
