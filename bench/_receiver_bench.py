"""Shared pieces of the receiver benchmarks: a scratch database, a receiver process, spans,
and an endpoint application registered with the receiver."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx
import psycopg
from _report import add_database_url, load_average
from _report import machine as machine  # re-exported: the receiver scripts import it from here
from _report import percentile as percentile  # re-exported, likewise
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from psycopg import sql

WORDS = [
    "refund",
    "order",
    "shipping",
    "invoice",
    "account",
    "password",
    "delivery",
    "address",
    "warranty",
    "return",
    "payment",
    "card",
    "balance",
    "subscription",
    "cancel",
    "upgrade",
    "plan",
    "support",
    "ticket",
    "agent",
]


@contextmanager
def scratch_database(server_url: str | None, keep: str | None = None) -> Iterator[str]:
    """A new migrated database on the given server (or the embedded one), dropped after.

    With ``keep``, the database of that name is created if missing and never dropped.
    """
    from spanlink.receiver.embedded import ensure_database_url
    from spanlink.receiver.storage import upgrade

    server = ensure_database_url(server_url)
    name = keep or f"spanlink_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server)
    info["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})
    url = _as_url(url)
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            with psycopg.connect(server, autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _as_url(conninfo: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = info.pop("user", "postgres")
    dbname = info.pop("dbname", "postgres")
    query = "&".join(f"{k}={v}" for k, v in info.items() if v)
    return f"postgresql://{user}@/{dbname}" + (f"?{query}" if query else "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def receiver_process(
    database_url: str,
    env: dict[str, str] | None = None,
    start_timeout: float = 60.0,
    port: int | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """``spanlink-receiver serve`` in its own process, as an operator runs it.

    ``env`` adds variables (e.g. ``SPANLINK_ENRICHMENT_*`` settings) to its environment;
    ``port`` defaults to a free one; ``workers`` is ``serve --workers`` (every worker has
    finished its startup when this yields).
    """
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spanlink.receiver.cli",
            "serve",
            "--database-url",
            database_url,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "info",  # each worker logs its startup: counted below
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = [0]

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            started[0] += "Application startup complete" in line

    threading.Thread(target=read, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout * workers
        while started[0] < workers:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.1)
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def support_bot_resource(rng: random.Random) -> tuple[ResourceSpans, ScopeSpans]:
    """The resource of the benchmarks' spans and its one, empty ``spanlink.tracer`` scope."""
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(
        [
            _kv("service.name", "support-bot"),
            _kv("deployment.environment.name", rng.choice(["prod", "staging"])),
            _kv("telemetry.sdk.language", "python"),
        ]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "spanlink.tracer"
    return resource_spans, scope


def make_batch(
    rng: random.Random, spans_per_batch: int = 512, spans_per_trace: int = 32, base_ns: int = 0
) -> ExportTraceServiceRequest:
    """Realistic AI-app spans: ~1 KB of attributes each (GenAI + captured I/O)."""
    resource_spans, scope = support_bot_resource(rng)
    start = base_ns or time.time_ns()
    for t in range(spans_per_batch // spans_per_trace):
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        run = f"run-{rng.randrange(50)}"
        for i in range(spans_per_trace):
            span_id = root_id if i == 0 else rng.randbytes(8)
            s0 = start + t * 10**9 + i * 1_000_000
            span = Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=b"" if i == 0 else root_id,
                name="answer_question"
                if i == 0
                else rng.choice(["chat gpt-4o", "execute_tool search"]),
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=s0,
                end_time_unix_nano=s0 + rng.randrange(1_000_000, 900_000_000),
            )
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o"),
                    _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                    _kv("gen_ai.usage.input_tokens", rng.randrange(10, 4000)),
                    _kv("gen_ai.usage.output_tokens", rng.randrange(10, 800)),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("spanlink.test.run_id", run),
                    _kv("spanlink.test.case_id", f"case-{rng.randrange(500)}"),
                    _kv("spanlink.input", _text(rng, 60)),
                    _kv("spanlink.output", _text(rng, 60)),
                    _kv("session.id", rng.randbytes(8).hex()),
                ]
            )
            if rng.random() < 0.03:
                span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="rate limited"))
            scope.spans.append(span)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def priced_chat_span(tracer: Any, index: int) -> None:
    """One ``gpt-4o-mini`` chat span with token usage, so the cost plugin prices it."""
    with tracer.start_as_current_span(f"chat gpt-4o-mini #{index}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 120)
        span.set_attribute("gen_ai.usage.output_tokens", 30)


def serve_endpoints(url: str, key: str) -> None:
    """Serve the ``@endpoint`` functions defined so far until stdin closes.

    The endpoint application's side of :func:`receiver_with_endpoint`: prints ``ready`` once
    registered with the receiver.
    """
    from spanlink.endpoint import connect

    async def main() -> None:
        client = connect(url, key, reconnect_initial_s=0.1, reconnect_max_s=1.0)
        task = asyncio.ensure_future(client.run())
        if not await client.wait_registered(30):
            raise SystemExit("endpoint did not register")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await client.aclose()
        task.cancel()

    asyncio.run(main())


@contextmanager
def receiver_with_endpoint(script: str, server_url: str | None) -> Iterator[tuple[str, str]]:
    """A scratch database, a receiver process and an endpoint application: ``(url, api_key)``.

    The application is ``script --serve-endpoint URL KEY`` in its own process (which calls
    :func:`serve_endpoints`); this yields once it is registered and closes it after. Its batch
    span processor waits a minute, so spans leave only with the flush an endpoint does before
    it reports a result.
    """
    from spanlink.receiver.storage import create_api_key

    with scratch_database(server_url) as database_url:
        key = create_api_key(database_url, "bench")
        with receiver_process(database_url) as url:
            app = subprocess.Popen(
                [sys.executable, script, "--serve-endpoint", url, key],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "60000"},
            )
            try:
                assert app.stdout is not None
                if app.stdout.readline().strip() != "ready":
                    raise SystemExit("the endpoint application did not start")
                yield url, key
            finally:
                assert app.stdin is not None
                app.stdin.close()
                try:
                    app.wait(10)
                except subprocess.TimeoutExpired:
                    app.kill()


class EndpointBench(NamedTuple):
    """What :func:`endpoint_bench` measured, with its command line and the load around it."""

    args: argparse.Namespace
    figures: dict[str, list[float]]
    load_before: str
    load_after: str


def endpoint_bench(
    script: str,
    description: str,
    serve: Callable[[str, str], None],
    measure: Callable[[str, str, argparse.Namespace], dict[str, list[float]]],
    *,
    count: tuple[str, int],
    warmup: int,
    poll_ms: float,
) -> EndpointBench:
    """The command line and driver of a test-run benchmark.

    Options: ``--database-url``, the ``count`` option (name and default: how many runs or
    cases), ``--warmup``, ``--poll-ms``, ``--write`` and the internal ``--serve-endpoint``.
    In the endpoint process (``--serve-endpoint``) this calls ``serve(url, key)`` and exits;
    otherwise it calls ``measure(url, key, args)`` against :func:`receiver_with_endpoint`
    and returns the figures.
    """
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    add_database_url(parser)
    parser.add_argument(f"--{count[0]}", type=int, default=count[1])
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--poll-ms", type=float, default=poll_ms)
    parser.add_argument("--serve-endpoint", nargs=2, metavar=("URL", "KEY"))
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.serve_endpoint:
        serve(*args.serve_endpoint)
        raise SystemExit(0)
    load_before = load_average()
    with receiver_with_endpoint(script, args.database_url) as (url, key):
        figures = measure(url, key, args)
    return EndpointBench(args, figures, load_before, load_average())
