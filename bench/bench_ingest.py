"""Sustained ingest: the receiver (1 and 2 workers) against Postgres's own speed, one run.

Three paths, in the same run and the same database, each for ``--duration`` seconds in
total (``--rounds`` rounds each, interleaved so they share the machine's noise):

- baseline: psycopg binary ``COPY`` of the same decoded spans into a minimal table (trace
  id, span id, parent, name, kind, start, end, status code, attributes JSONB with a GIN
  ``jsonb_path_ops`` index, resource JSONB, primary key on the ids); one COPY + commit per
  512 rows over 2 connections (2 processes); decoding untimed (the rows are made first).
- receiver, 1 worker and 2 workers (``spanlink-receiver serve --workers N``): 4 client
  processes post 512-span gzip protobuf batches of GenAI spans (11 attributes, one a ~1 KB
  message JSON), every id unique, nothing retried.

Stored = rows counted in Postgres afterwards; lost (acknowledged but not stored) and
duplicated rows are checked, both must be 0. Target: receiver >= 70% of the baseline.
The receivers' search indexers run during their rounds (full-text vectors are computed
after each commit, off the request path); the spans still queued for search when a round
ends, and how long the indexers then take to empty the queue, are reported beside.

    python bench/bench_ingest.py [--duration 30] [--rounds 3] [--database-url URL]
                                 [--redaction] [--no-search-indexer] [--no-enrichment]
                                 [--no-record]

Without ``--database-url`` (or ``SPANLINK_BENCH_DATABASE_URL``) the embedded Postgres is
used. A scratch database is created and dropped on that server.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import random
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import (
    WORDS,
    _kv,
    machine,
    percentile,
    receiver_process,
    scratch_database,
    support_bot_resource,
)
from _report import add_database_url, append_section, load_average

from spanlink.receiver.ingest import prepare_batch
from spanlink.receiver.storage import create_api_key, create_project

SPANS_PER_BATCH = 512
SPANS_PER_TRACE = 32
CLIENTS = 4
BASELINE_CONNECTIONS = 2

#: What ``--redaction`` turns on.
REDACTION_RULES = {
    "builtin": ["email", "credit_card", "api_key", "aws_key", "jwt", "bearer_token"],
    "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}],
}

MINIMAL_TABLE = """
CREATE TABLE bench_minimal_spans (
    trace_id text NOT NULL,
    span_id text NOT NULL,
    parent_span_id text,
    name text NOT NULL,
    kind text NOT NULL,
    start_ns bigint NOT NULL,
    end_ns bigint NOT NULL,
    status_code text NOT NULL,
    attributes jsonb NOT NULL,
    resource jsonb NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX bench_minimal_spans_attributes ON bench_minimal_spans
    USING gin (attributes jsonb_path_ops);
"""
MINIMAL_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, "
    "attributes, resource"
)
MINIMAL_TYPES = ["text", "text", "text", "text", "text", "int8", "int8", "text", "jsonb", "jsonb"]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _messages(rng: random.Random) -> str:
    """A chat request's messages as JSON, about 1 KB."""
    messages = [
        {"role": "system", "content": "You are a support agent. " + _sentence(rng, 25)},
        {"role": "user", "content": _sentence(rng, 40)},
        {"role": "assistant", "content": _sentence(rng, 25)},
        {"role": "user", "content": _sentence(rng, 15)},
    ]
    return json.dumps(messages)


def genai_batch(rng: random.Random) -> ExportTraceServiceRequest:
    """512 GenAI spans (16 traces of 32), 11 attributes each incl. a ~1 KB message JSON."""
    resource_spans, scope = support_bot_resource(rng)
    start = time.time_ns()
    for t in range(SPANS_PER_BATCH // SPANS_PER_TRACE):
        trace_id, root_id = rng.randbytes(16), rng.randbytes(8)
        for i in range(SPANS_PER_TRACE):
            s0 = start + t * 10**9 + i * 1_000_000
            span = Span(
                trace_id=trace_id,
                span_id=root_id if i == 0 else rng.randbytes(8),
                parent_span_id=b"" if i == 0 else root_id,
                name="answer_question" if i == 0 else "chat gpt-4o",
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
                    _kv("gen_ai.response.id", f"chatcmpl-{rng.randbytes(12).hex()}"),
                    _kv("gen_ai.usage.input_tokens", rng.randrange(10, 4000)),
                    _kv("gen_ai.usage.output_tokens", rng.randrange(10, 800)),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("session.id", rng.randbytes(8).hex()),
                    _kv("spanlink.input", _messages(rng)),
                    _kv("spanlink.output", _sentence(rng, 25)),
                ]
            )
            if rng.random() < 0.03:
                span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="rate limited"))
            scope.spans.append(span)
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def _bodies(args: tuple[int, int]) -> list[bytes]:
    """``count`` gzip bodies from one template with fresh ids each (every id unique)."""
    seed, count = args
    rng = random.Random(seed)
    template = genai_batch(rng)
    spans = [span for rs in template.resource_spans for ss in rs.scope_spans for span in ss.spans]
    bodies = []
    for _ in range(count):
        root = b""
        for span in spans:
            if not span.parent_span_id:
                span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
                trace_id, root = span.trace_id, span.span_id
            else:
                span.trace_id, span.parent_span_id = trace_id, root
                span.span_id = rng.randbytes(8)
        bodies.append(gzip.compress(template.SerializeToString(), 6))
    return bodies


# Bodies of the client lanes; set before the client processes fork, so never copied.
LANES: list[list[bytes]] = []


def _client(url: str, key: str, lane: int, first: int, seconds: float, out: Any) -> None:
    """Post the lane's bodies from ``first`` on for ``seconds``; nothing retried."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip",
    }
    sent = accepted = 0
    latencies: list[float] = []
    failures: list[str] = []
    bodies = LANES[lane]
    stop_at = time.perf_counter() + seconds
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        while time.perf_counter() < stop_at and first + sent < len(bodies):
            t0 = time.perf_counter()
            try:
                response = client.post("/v1/traces", content=bodies[first + sent])
            except httpx.HTTPError as error:
                failures.append(repr(error))
                sent += 1
                continue
            sent += 1
            latencies.append(time.perf_counter() - t0)
            if response.status_code == 200 and not response.content.strip(b"\x00"):
                accepted += SPANS_PER_BATCH
            elif response.status_code == 200:
                # partial success (a protobuf body naming rejected spans) counts as failed
                failures.append(f"200 partial {response.content[:100]!r}")
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")
    out.put((lane, sent, accepted, latencies, failures))


def run_receiver(url: str, key: str, offsets: list[int], seconds: float) -> dict[str, Any]:
    """One round: ``CLIENTS`` processes for ``seconds``; ``offsets`` advance per lane."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    processes = [
        context.Process(target=_client, args=(url, key, lane, offsets[lane], seconds, out))
        for lane in range(CLIENTS)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [out.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join(30)
    elapsed = time.perf_counter() - started
    round_result: dict[str, Any] = {
        "elapsed": elapsed,
        "accepted": 0,
        "latencies": [],
        "failures": [],
        "exhausted": False,
    }
    for lane, sent, accepted, latencies, failures in results:
        offsets[lane] += sent
        round_result["exhausted"] |= offsets[lane] >= len(LANES[lane])
        round_result["accepted"] += accepted
        round_result["latencies"] += latencies
        round_result["failures"] += failures
    return round_result


# Decoded rows of the baseline, set before its processes fork.
BASELINE_ROWS: list[list[tuple[Any, ...]]] = []


def _baseline_rows(bodies: list[bytes]) -> list[list[tuple[Any, ...]]]:
    """The bodies decoded (by the receiver's own code) into the minimal table's rows."""
    request = ExportTraceServiceRequest()
    batches = []
    for body in bodies:
        request.ParseFromString(gzip.decompress(body))
        rows = prepare_batch(0, request).rows
        # trace, span, parent, name, kind, start, end, status, attributes, resource; the
        # JSON is already text (the receiver's encoder), sent as binary jsonb unchanged.
        batches.append(
            [
                (r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[9], _jsonb(r[19]), _jsonb(r[22]))
                for r in rows
            ]
        )
    return batches


def _same(text: Any) -> Any:
    return text


def _jsonb(text: str) -> Jsonb:
    return Jsonb(text, dumps=_same)


def _baseline_worker(database_url: str, worker: int, first: int, seconds: float, out: Any) -> None:
    """COPY (binary) + commit per 512 rows; trace ids made unique per COPY by a prefix."""
    copies = 0
    stop_at = time.perf_counter() + seconds
    with psycopg.connect(database_url) as connection:
        while time.perf_counter() < stop_at:
            number = first + copies
            rows = BASELINE_ROWS[number % len(BASELINE_ROWS)]
            prefix = f"{worker:02x}{number:08x}"  # ten hex digits replaced: unique per COPY
            with connection.cursor() as cursor:
                with cursor.copy(
                    f"COPY bench_minimal_spans ({MINIMAL_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(MINIMAL_TYPES)
                    for row in rows:
                        copy.write_row((prefix + row[0][10:], *row[1:]))
            connection.commit()
            copies += 1
    out.put((worker, copies))


def run_baseline(database_url: str, offsets: list[int], seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    processes = [
        context.Process(
            target=_baseline_worker, args=(database_url, worker, offsets[worker], seconds, out)
        )
        for worker in range(BASELINE_CONNECTIONS)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [out.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join(30)
    elapsed = time.perf_counter() - started
    for worker, copies in results:
        offsets[worker] += copies
    return {"elapsed": elapsed, "rows": sum(c for _, c in results) * SPANS_PER_BATCH}


def _count(database_url: str, query: str, *params: Any) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _settle(database_url: str, deadline: float = 60.0) -> None:
    """Until no other session of the database runs a statement (enrichment catching up)."""
    stop_at = time.monotonic() + deadline
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND pid <> pg_backend_pid()"
    )
    quiet = 0
    while time.monotonic() < stop_at and quiet < 5:
        quiet = quiet + 1 if _count(database_url, query) == 0 else 0
        time.sleep(0.1)


_QUEUED = "SELECT coalesce(sum(cardinality(span_ids)), 0) FROM span_search_queue"


def _drain_search_queue(database_url: str, deadline: float = 300.0) -> tuple[int, float]:
    """Spans queued for search now, and the seconds until the indexers emptied the queue."""
    queued = _count(database_url, _QUEUED)
    started = time.perf_counter()
    while _count(database_url, _QUEUED) and time.perf_counter() - started < deadline:
        time.sleep(0.05)
    return queued, time.perf_counter() - started if queued else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL", "SPANLINK_DATABASE_URL")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per path")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path")
    parser.add_argument("--bodies", type=int, default=150, help="distinct batches per client lane")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--redaction", action="store_true", help="redaction on: every builtin + one pattern"
    )
    parser.add_argument(
        "--no-search-indexer",
        action="store_true",
        help="what-if: the receivers do not index for search (the queue only grows)",
    )
    parser.add_argument(
        "--no-enrichment",
        action="store_true",
        help="what-if: the receivers do not enrich traces (no cost, no anomaly plugins)",
    )
    args = parser.parse_args()

    load_before = load_average()
    print(f"generating {CLIENTS} x {args.bodies} batches of {SPANS_PER_BATCH} spans...")
    with multiprocessing.get_context("fork").Pool(CLIENTS) as pool:
        LANES[:] = pool.map(_bodies, [(seed, args.bodies) for seed in range(1, CLIENTS + 1)])
    size = sum(map(len, LANES[0])) / len(LANES[0])
    print(f"  {size / 1024:.0f} KiB gzip per batch", flush=True)
    # The baseline's rows: the same kind of spans, decoded before any clock starts.
    BASELINE_ROWS[:] = _baseline_rows(_bodies((99, 64)))
    attributes = json.loads(BASELINE_ROWS[0][1][8].obj)
    print(f"  {len(attributes)} attributes per span, {len(BASELINE_ROWS[0][1][8].obj)} B JSON")

    window = args.duration / args.rounds
    with scratch_database(args.database_url) as database_url, ExitStack() as stack:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(MINIMAL_TABLE)
        receivers = {}
        for workers in (1, 2):
            name = f"bench-{workers}-worker"
            key = create_api_key(database_url, name)
            project = create_project(database_url, name)
            env = {}
            if args.no_search_indexer:
                env["SPANLINK_SEARCH_INDEXER"] = "false"
            if args.no_enrichment:
                env["SPANLINK_ENRICHMENT"] = "off"
            url = stack.enter_context(receiver_process(database_url, env=env, workers=workers))
            if args.redaction:
                httpx.put(
                    f"{url}/api/v1/redaction",
                    headers={"Authorization": f"Bearer {key}"},
                    json=REDACTION_RULES,
                    timeout=30,
                ).raise_for_status()
            receivers[workers] = {"url": url, "key": key, "project": project}
        # Warm-up (connections, caches, every worker): 8 batches each, not counted.
        warm = _bodies((7, 8))
        for receiver in receivers.values():
            with httpx.Client(base_url=receiver["url"], timeout=120) as client:
                for body in warm:
                    client.post(
                        "/v1/traces",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {receiver['key']}",
                            "Content-Type": "application/x-protobuf",
                            "Content-Encoding": "gzip",
                            "Connection": "close",  # the next batch may reach the other worker
                        },
                    )
            receiver["warm"] = _count(
                database_url,
                "SELECT count(*) FROM spans WHERE project_id = %s",
                receiver["project"],
            )
        _settle(database_url)

        paths = ["baseline", "receiver-1", "receiver-2"]
        totals: dict[str, dict[str, Any]] = {
            path: {"elapsed": 0.0, "accepted": 0, "latencies": [], "failures": [], "rows": 0}
            for path in paths
        }
        # The search indexers' lag: spans still queued when a receiver round ended, and how
        # long the indexers then took to empty the queue (not counted in the round's time).
        backlog = {path: {"spans": 0, "drain": 0.0} for path in paths[1:]}
        offsets = {path: [0] * CLIENTS for path in paths}
        exhausted = False
        for round_number in range(args.rounds):
            order = paths[round_number % 3 :] + paths[: round_number % 3]
            for path in order:
                if path == "baseline":
                    result = run_baseline(database_url, offsets[path], window)
                else:
                    receiver = receivers[int(path[-1])]
                    result = run_receiver(receiver["url"], receiver["key"], offsets[path], window)
                    exhausted |= result.pop("exhausted")
                total = totals[path]
                for field, value in result.items():
                    total[field] = total.get(field, 0) + value
                if path != "baseline" and not args.no_search_indexer:
                    queued, drain = _drain_search_queue(database_url)
                    backlog[path]["spans"] = max(backlog[path]["spans"], queued)
                    backlog[path]["drain"] += drain
                _settle(database_url)
                spans = result.get("rows") or result["accepted"]
                print(
                    f"  round {round_number + 1} {path}: {spans:,} spans "
                    f"in {result['elapsed']:.1f} s",
                    flush=True,
                )

        # Stored = rows counted in Postgres afterwards; lost and duplicated checked.
        figures: dict[str, dict[str, Any]] = {}
        stored = _count(database_url, "SELECT count(*) FROM bench_minimal_spans")
        distinct = _count(
            database_url, "SELECT count(DISTINCT (trace_id, span_id)) FROM bench_minimal_spans"
        )
        base = totals["baseline"]
        figures["baseline"] = {
            "stored": stored,
            "rate": stored / base["elapsed"],
            "lost": base["rows"] - stored,
            "duplicated": stored - distinct,
        }
        for workers, receiver in receivers.items():
            total = totals[f"receiver-{workers}"]
            where = "FROM spans WHERE project_id = %s"
            count = _count(database_url, f"SELECT count(*) {where}", receiver["project"])
            unique = _count(
                database_url,
                f"SELECT count(DISTINCT (trace_id, span_id)) {where}",
                receiver["project"],
            )
            count -= receiver["warm"]
            unique -= receiver["warm"]
            figures[f"receiver-{workers}"] = {
                "stored": count,
                "rate": count / total["elapsed"],
                "lost": total["accepted"] - count,
                "duplicated": count - unique,
                "failures": total["failures"],
                "p50": percentile(total["latencies"], 0.5) * 1000,
                "p95": percentile(total["latencies"], 0.95) * 1000,
                **backlog[f"receiver-{workers}"],
            }
    load_after = load_average()

    baseline_rate = figures["baseline"]["rate"]
    print(
        f"baseline (binary COPY, minimal table): {baseline_rate:,.0f} rows/s "
        f"({figures['baseline']['stored']:,} rows, lost {figures['baseline']['lost']}, "
        f"duplicated {figures['baseline']['duplicated']})"
    )
    lines = []
    for workers in (1, 2):
        figure = figures[f"receiver-{workers}"]
        figure["ratio"] = figure["rate"] / baseline_rate
        print(
            f"receiver, {workers} worker(s): {figure['rate']:,.0f} spans/s = "
            f"{figure['ratio']:.0%} of the baseline ({figure['stored']:,} stored, "
            f"lost {figure['lost']}, duplicated {figure['duplicated']}, "
            f"{len(figure['failures'])} failed requests; p50 {figure['p50']:.0f} ms, "
            f"p95 {figure['p95']:.0f} ms; search backlog at most {figure['spans']:,} spans, "
            f"drained in {figure['drain']:.1f} s in all)"
        )
        if figure["failures"]:
            print(f"  e.g. {figure['failures'][0]}", file=sys.stderr)
        lines.append(
            f"| receiver, `serve --workers {workers}` (`POST /v1/traces`, end to end) | "
            f"{figure['rate']:,.0f} | **{figure['ratio']:.0%}** | {figure['stored']:,} | "
            f"{figure['lost']} / {figure['duplicated']} | {len(figure['failures'])} | "
            f"{figure['p50']:.0f} / {figure['p95']:.0f} ms | {figure['spans']:,} / "
            f"{figure['drain']:.1f} s |"
        )
    if exhausted:
        print("  note: a client lane ran out of distinct batches; raise --bodies")
    print(f"load average before: {load_before}; after: {load_after}")

    if not args.no_record:
        command = "python bench/bench_ingest.py " + " ".join(sys.argv[1:])
        best = max(figures[f"receiver-{w}"]["ratio"] for w in (1, 2))
        base = figures["baseline"]
        header = [
            "| path | spans/s stored | of baseline | stored | lost / duplicated "
            "| failed requests | request p50 / p95 | search backlog at a round's end "
            "(max) / drained in (sum) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            "| baseline: binary `COPY` into the minimal table, 512-row commits, "
            f"2 connections, decode untimed | {baseline_rate:,.0f} | 100% | {base['stored']:,} "
            f"| {base['lost']} / {base['duplicated']} | | | |",
        ]
        table = "\n".join(header + lines)
        switch = "on" if args.redaction else "off"
        if args.no_search_indexer:
            switch += ", search indexers off (what-if)"
        if args.no_enrichment:
            switch += ", enrichment off (what-if)"
        verdict = "met" if best >= 0.7 else "not met"
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = f"""
## Receiver: sustained ingest against a binary COPY (`bench/bench_ingest.py`), redaction {switch}

- Command: `{command.strip()}`
- Machine: {machine()}; Postgres, both receivers, the clients and the baseline share it.
- Date: {date}; load average (1/5/15 min) before: {load_before}; after: {load_after}.
- Load: {CLIENTS} client processes posting {SPANS_PER_BATCH}-span gzip protobuf batches
  ({size / 1024:.0f} KiB each; {len(attributes)} attributes per span incl. a ~1 KB message
  JSON), every id unique, nothing retried; {args.rounds} interleaved rounds per path,
  {args.duration:.0f} s per path in total. Stored = rows counted in Postgres afterwards.

{table}

Target receiver ≥ 70% of the baseline: {verdict} (best {best:.0%}).
"""
        append_section(section, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
