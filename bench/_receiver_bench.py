"""Shared pieces of the receiver benchmarks: a scratch database, a receiver process, spans."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
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


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


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


def make_batch(
    rng: random.Random, spans_per_batch: int = 512, spans_per_trace: int = 32, base_ns: int = 0
) -> ExportTraceServiceRequest:
    """Realistic AI-app spans: ~1 KB of attributes each (GenAI + captured I/O)."""
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
