"""Ingest-to-enrichment-stored latency of the receiver, side by side in one run.

Three receivers (``spanlink-receiver serve`` processes) on one scratch database:
(a) in-process enrichment with the default debounce, (b) the same with no debounce,
(c) enrichment off, enriched on demand by ``GET /api/v1/traces/{id}?sync=true``.
Each round sends one fresh 32-span trace to each (order rotated every round) and measures
from the ingest response to the enrichment row being visible in Postgres (a, b), or the
duration of the ``?sync=true`` request (c). Median and p95 over the rounds.

    hatch run bench:python bench/bench_enrichment_latency.py --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import make_batch, receiver_process, scratch_database
from _report import add_database_url, load_average, load_line, machine, percentile


def wait_stored(db: psycopg.Connection, trace_id: str, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute(
            "SELECT 1 FROM trace_enrichments WHERE trace_id = %s", (trace_id,)
        ).fetchone()
        if row is not None:
            return time.perf_counter()
        time.sleep(0.001)
    raise RuntimeError(f"trace {trace_id} not enriched within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args, _ = parser.parse_known_args()  # run_all.py passes every script the same flags

    from spanlink.receiver.storage import create_api_key

    rng = random.Random(7)
    configs = {
        "(a) in-process, default debounce (50 ms)": {},
        "(b) in-process, debounce 0": {"SPANLINK_ENRICHMENT_DEBOUNCE_MS": "0"},
        "(c) enrichment off, GET ?sync=true": {"SPANLINK_ENRICHMENT": "off"},
    }
    results: dict[str, list[float]] = {name: [] for name in configs}
    load_before = load_average()
    with scratch_database(args.database_url) as database_url, ExitStack() as stack:
        urls = {
            name: stack.enter_context(receiver_process(database_url, env, start_timeout=90))
            for name, env in configs.items()
        }
        clients = {}
        for i, (name, url) in enumerate(urls.items()):
            key = create_api_key(database_url, f"bench-{i}")
            clients[name] = stack.enter_context(
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
            )
        db = stack.enter_context(psycopg.connect(database_url, autocommit=True))
        names = list(configs)
        for round_no in range(args.warmup + args.rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                batch = make_batch(rng, spans_per_batch=32, spans_per_trace=32)
                trace_id = batch.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
                http = clients[name]
                response = http.post(
                    "/v1/traces",
                    content=batch.SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
                response.raise_for_status()
                if name.startswith("(c)"):
                    started = time.perf_counter()
                    got = http.get(f"/api/v1/traces/{trace_id}", params={"sync": "true"})
                    got.raise_for_status()
                    assert got.json()["enrichment"] is not None
                    elapsed = time.perf_counter() - started
                else:
                    started = time.perf_counter()
                    elapsed = wait_stored(db, trace_id) - started
                if round_no >= args.warmup:
                    results[name].append(elapsed * 1000)
    load_after = load_average()

    print(
        f"Command: `python bench/bench_enrichment_latency.py --rounds {args.rounds}`. "
        f"Machine: {machine()}, Linux. "
        f"Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}."
    )
    print()
    print(
        "One 32-span trace (every span a gpt-4o chat call with usage) per receiver per round, "
        f"rounds interleaved with rotated order, {args.warmup} warm-up rounds dropped; three "
        "`serve` processes, the load generator and Postgres share the machine; cost + anomaly "
        "plugins."
    )
    print()
    print("| path | median | p95 | ratio to (b) median |")
    print("|---|---|---|---|")
    base = statistics.median(results[names[1]])
    for name in names:
        values = results[name]
        median = statistics.median(values)
        print(
            f"| {name} | {median:.1f} ms | {percentile(values, 0.95):.1f} ms | "
            f"{median / base:.2f} |"
        )
    print()
    print(load_line(load_before, load_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
