"""Sustained ingest: spans/s stored by the receiver vs the raw psycopg COPY limit.

A load generator on loopback posts realistic batches (512 spans, ~1 KB of attributes each,
gzip protobuf) to ``spanlink-receiver serve`` running in its own process, for at least
``--duration`` seconds; then the same kind of rows are copied straight into the same
``spans`` table (same indexes) with psycopg ``COPY``, one 512-row transaction at a time.
Target: the receiver stores >= 50% of the raw COPY rate.

    python bench/bench_ingest.py [--duration 30] [--concurrency 4] [--database-url URL]
                                 [--redaction]

``--redaction`` sets the receiver project's redaction rules first (every builtin detector
and one user pattern), so the figure includes redaction at ingest; the raw COPY rows are
the same either way.

Without ``--database-url`` (or ``SPANLINK_BENCH_DATABASE_URL``) the embedded Postgres is
used. A scratch database is created and dropped on that server.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import machine, make_batch, percentile, receiver_process, scratch_database

from spanlink.receiver.ingest import prepare_batch
from spanlink.receiver.ingest._write import _COLUMNS
from spanlink.receiver.storage import create_api_key, create_project


def generate_bodies(count: int, seed: int) -> list[bytes]:
    """Distinct gzip protobuf batches (fresh ids each), made before the clock starts."""
    rng = random.Random(seed)
    template = make_batch(rng)
    spans = [span for rs in template.resource_spans for ss in rs.scope_spans for span in ss.spans]
    bodies = []
    for _ in range(count):
        roots: dict[bytes, bytes] = {}
        for span in spans:
            if not span.parent_span_id:
                new_trace, new_root = rng.randbytes(16), rng.randbytes(8)
                roots[span.trace_id] = new_trace
                span.trace_id, span.span_id = new_trace, new_root
                current_root = new_root
            else:
                span.trace_id = roots.get(span.trace_id, span.trace_id)
                span.parent_span_id = current_root
                span.span_id = rng.randbytes(8)
        bodies.append(gzip.compress(template.SerializeToString(), 6))
    return bodies


#: What ``--redaction`` turns on.
REDACTION_RULES = {
    "builtin": ["email", "credit_card", "api_key", "aws_key", "jwt", "bearer_token"],
    "rules": [{"name": "ticket", "pattern": r"TKT-\d{6}"}],
}


def run_receiver(  # type: ignore[no-untyped-def]
    url: str,
    key: str,
    bodies: list[bytes],
    duration: float,
    concurrency: int,
    cursor=None,
    latencies: list[float] | None = None,
    failures: list[str] | None = None,
):
    latencies = [] if latencies is None else latencies
    failures = [] if failures is None else failures
    lock = threading.Lock()
    cursor = iter(range(len(bodies))) if cursor is None else cursor
    started = time.perf_counter()
    stop_at = started + duration
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip",
    }

    def worker() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            while time.perf_counter() < stop_at:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                t0 = time.perf_counter()
                response = client.post("/v1/traces", content=bodies[index])
                elapsed = time.perf_counter() - t0
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, failures


def prepare_raw_rows(project_id: int, batches: int) -> list[list[tuple[object, ...]]]:
    """The same kind of rows the receiver writes (built by its own code), made in advance."""
    rng = random.Random(99)
    return [prepare_batch(project_id, make_batch(rng)).rows for _ in range(batches)]


def run_raw_copy(database_url: str, row_batches, duration: float, concurrency: int):  # type: ignore[no-untyped-def]
    """COPY straight into ``spans`` from ``concurrency`` connections (the raw limit)."""
    stored = [0]
    lock = threading.Lock()
    started = time.perf_counter()

    def worker() -> None:
        with psycopg.connect(database_url) as connection:
            while time.perf_counter() - started < duration:
                with lock:
                    if not row_batches:
                        return
                    rows = row_batches.pop()
                with connection.cursor() as cursor:
                    with cursor.copy(f"COPY spans ({_COLUMNS}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                connection.commit()
                with lock:
                    stored[0] += len(rows)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stored[0], time.perf_counter() - started


def count_spans(database_url: str, project_id: int) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM spans WHERE project_id = %s", (project_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SPANLINK_BENCH_DATABASE_URL")
        or os.environ.get("SPANLINK_DATABASE_URL"),
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batches", type=int, default=700, help="distinct batches generated")
    parser.add_argument("--raw-batches", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6, help="alternating raw/receiver rounds")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--redaction", action="store_true", help="redaction on: every builtin + one pattern"
    )
    args = parser.parse_args()

    loadavg = Path("/proc/loadavg").read_text().split(" ", 3)[:3]
    print(f"generating {args.batches} batches of 512 spans...", flush=True)
    bodies = generate_bodies(args.batches, seed=1)
    print(f"  {sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB gzip per batch", flush=True)

    with scratch_database(args.database_url) as database_url:
        key = create_api_key(database_url, "bench-receiver")
        receiver_project = create_project(database_url, "bench-receiver")
        raw_project = create_project(database_url, "bench-raw")

        print(f"preparing {args.raw_batches} batches of rows for the raw COPY...", flush=True)
        row_batches = prepare_raw_rows(raw_project, args.raw_batches)

        with receiver_process(database_url) as url:
            if args.redaction:
                response = httpx.put(
                    f"{url}/api/v1/redaction",
                    headers={"Authorization": f"Bearer {key}"},
                    json=REDACTION_RULES,
                    timeout=30,
                )
                response.raise_for_status()
            # Warm-up (connections, caches): not counted.
            warm = generate_bodies(4, seed=7)
            run_receiver(url, key, warm, 30, 2)
            warm_count = count_spans(database_url, receiver_project)
            # Rounds alternate the two paths so both see the same machine noise and table size.
            raw_rows = 0
            raw_elapsed = elapsed = 0.0
            latencies: list[float] = []
            failures: list[str] = []
            cursor = iter(range(len(bodies)))
            window = args.duration / args.rounds
            for round_number in range(args.rounds):
                rows, raw_seconds = run_raw_copy(
                    database_url, row_batches, window, args.concurrency
                )
                raw_rows, raw_elapsed = raw_rows + rows, raw_elapsed + raw_seconds
                before = count_spans(database_url, receiver_project)
                seconds, *_ = run_receiver(
                    url, key, bodies, window, args.concurrency, cursor, latencies, failures
                )
                elapsed += seconds
                stored_now = count_spans(database_url, receiver_project) - before
                print(
                    f"  round {round_number + 1}: raw {rows / max(raw_seconds, 1e-9):,.0f} rows/s, "
                    f"receiver {stored_now / seconds:,.0f} spans/s",
                    flush=True,
                )
            stored = count_spans(database_url, receiver_project) - warm_count
    if failures:
        print(f"  {len(failures)} failed requests, e.g. {failures[0]}", file=sys.stderr)
    if len(latencies) + len(failures) >= len(bodies):
        print("  note: every generated batch was sent before the duration ended; raise --batches")
    raw_rate = raw_rows / raw_elapsed
    rate = stored / elapsed
    p50 = percentile(latencies, 0.5) * 1000
    p95 = percentile(latencies, 0.95) * 1000
    ratio = rate / raw_rate
    print(f"  raw COPY: {raw_rows} rows in {raw_elapsed:.1f} s = {raw_rate:,.0f} rows/s")
    print(f"  receiver: {stored} spans stored in {elapsed:.1f} s = {rate:,.0f} spans/s")
    print(f"  request latency p50 {p50:.0f} ms, p95 {p95:.0f} ms ({len(latencies)} requests)")
    print(f"receiver / raw COPY = {ratio:.0%} (target >= 50%)")

    if not args.no_record:
        command = "python bench/bench_ingest.py " + " ".join(sys.argv[1:])
        switch = "on" if args.redaction else "off"
        section = f"""
## Receiver: sustained ingest (`bench/bench_ingest.py`), redaction {switch}

- Command: `{command.strip()}`
- Machine: {machine()}; Postgres, receiver (one uvicorn process) and load generator share it.
- Date: {datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}; load average before
  the run: {loadavg}
- Load: {args.concurrency} concurrent clients, batches of 512 spans (~1 KB attributes each),
  gzip protobuf, for {elapsed:.0f} s; {len(failures)} failed requests.

| path | spans/s stored | request p50 | request p95 |
| --- | ---: | ---: | ---: |
| receiver (`POST /v1/traces`, end to end) | {rate:,.0f} | {p50:.0f} ms | {p95:.0f} ms |
| raw `COPY` into `spans` (same rows, indexes, concurrency; 512-row commits) | {raw_rate:,.0f} | | |

Receiver / raw COPY: **{ratio:.0%}** (target ≥ 50%: {"met" if ratio >= 0.5 else "not met"}).
"""
        with args.results.open("a") as results:
            results.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
