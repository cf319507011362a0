"""Helpers of the enrichment tests (imported as ``enrichment_helpers``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import receiver_helpers as helpers
import uvicorn


class Served:
    """A receiver app served on loopback for one test."""

    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url

    @property
    def enrichment(self) -> Any:
        return self.app.state.enrichment

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


@contextmanager
def serve(settings: Any, plugins: Any = None) -> Iterator[Served]:
    """``create_app(settings)`` (optionally with these plugins) under uvicorn in a thread."""
    from spanlink.receiver.app import create_app

    app = create_app(settings)
    if plugins is not None:
        app.state.enrichment.use_plugins(plugins)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)


def poll(fetch: Callable[[], Any], ready: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Call ``fetch`` until ``ready(value)``; fail with the last value after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ready(value):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s; last value: {value!r}")
        time.sleep(0.02)
        value = fetch()
    return value


def llm_span(
    tid: bytes,
    model: str = "gpt-4o-mini",
    input_tokens: int = 1000,
    output_tokens: int = 500,
    name: str | None = None,
    parent: bytes = b"",
    **extra: Any,
) -> Any:
    """An OTLP chat span with GenAI model and usage attributes."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", '
        '"content": "hi"}]}]',
        **extra,
    }
    return helpers.make_span(
        tid,
        helpers.span_id(),
        parent=parent,
        name=name or f"chat {model}",
        attributes=attributes,
        kind=3,  # CLIENT
    )


def send(http: httpx.Client, spans: list[Any]) -> None:
    response = helpers.post_proto(http, helpers.make_request(spans))
    assert response.status_code == 200, response.text


def enrichment_of(http: httpx.Client, tid: bytes, sync: bool = False) -> Any:
    params = {"sync": "true"} if sync else {}
    response = http.get(f"/api/v1/traces/{tid.hex()}", params=params)
    assert response.status_code == 200, response.text
    return response.json()
