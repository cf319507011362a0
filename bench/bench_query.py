"""Query latency with >= 1M spans stored: the filtered trace list and a 1,000-span trace.

The data set is written with SQL (``generate_series``) straight into a scratch database
migrated with the receiver's own schema, secondary indexes dropped during the load and
rebuilt from their own definitions afterwards (the usual bulk-load order); then
``spanlink-receiver serve`` runs in its own process and a client on loopback measures
request latency end to end (p50/p95 over ``--requests`` sequential calls after warm-up).
Target: p95 <= 20 ms for each.

    python bench/bench_query.py [--spans 1000000] [--requests 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import free_port, machine, percentile, receiver_process, scratch_database
from _report import add_database_url, append_section, load_average

from spanlink.receiver.storage import create_api_key, create_project
from spanlink.receiver.storage._search import SPAN_VECTOR

SPANS_PER_TRACE = 30
BIG_TRACE_SPANS = 1000
HUGE_TRACE_SPANS = 10_000
BASE_NS = 1_767_225_600 * 10**9  # 2026-01-01

# Spans of the many ordinary traces, then one trace of BIG_TRACE_SPANS spans.
LOAD_SPANS = """
INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, kind, start_ns,
                   end_ns, duration_ns, status_code, status_message, environment,
                   service_name, test_run_id, test_case_id, test_result_id, model,
                   input_tokens, output_tokens, attributes, events, links, resource,
                   scope_name, scope_version)
SELECT %(project)s,
       md5('t' || t),
       left(md5('s' || g), 16),
       CASE WHEN p = 0 THEN NULL ELSE left(md5('s' || (g - p)), 16) END,
       CASE WHEN p = 0 THEN 'answer_question' WHEN p %% 3 = 0 THEN 'execute_tool search'
            ELSE 'chat gpt-4o' END,
       CASE WHEN p = 0 THEN 'SERVER' ELSE 'CLIENT' END,
       %(base)s::bigint + t * 1000000000::bigint + p * 1000000,
       %(base)s::bigint + t * 1000000000::bigint + p * 1000000 + (g %% 997) * 1000000,
       (g %% 997) * 1000000,
       CASE WHEN g %% 53 = 0 THEN 'ERROR' ELSE 'UNSET' END,
       CASE WHEN g %% 53 = 0 THEN 'rate limited by provider' END,
       (ARRAY['prod', 'staging', 'dev'])[1 + t %% 3],
       (ARRAY['support-bot', 'search-api', 'billing', 'triage'])[1 + t %% 4],
       'run-' || (t %% 500), 'case-' || (t %% 97), 'res-' || t,
       CASE WHEN p > 0 AND p %% 3 <> 0 THEN 'gpt-4o' END,
       CASE WHEN p > 0 AND p %% 3 <> 0 THEN 100 + g %% 3000 END,
       CASE WHEN p > 0 AND p %% 3 <> 0 THEN 10 + g %% 700 END,
       jsonb_build_object(
           'gen_ai.operation.name', 'chat', 'gen_ai.provider.name', 'openai',
           'gen_ai.request.model', 'gpt-4o', 'gen_ai.usage.input_tokens', 100 + g %% 3000,
           'gen_ai.usage.output_tokens', 10 + g %% 700, 'session.id', md5('x' || t),
           'spanlink.test.run_id', 'run-' || (t %% 500),
           'spanlink.input', 'customer asks about ' || md5('i' || g) || ' refund order '
               || repeat('shipping invoice account ', 12),
           'spanlink.output', 'assistant answers ' || md5('o' || g) || ' '
               || repeat('policy delivery warranty ', 12)),
       '[]'::jsonb, '[]'::jsonb,
       '{"service.name": "support-bot", "telemetry.sdk.language": "python"}'::jsonb,
       'spanlink.tracer', '0.1.0'
FROM (SELECT g, g / %(per)s AS t, g %% %(per)s AS p
      FROM generate_series(%(first)s, %(last)s) AS g) AS s
"""

# What the search indexer stores for each span, in bulk.
INDEX_SPANS = f"""
INSERT INTO span_search (project_id, trace_id, span_id, search)
SELECT project_id, trace_id, span_id, {SPAN_VECTOR.format(t="spans")}
FROM spans WHERE project_id = %(project)s
ON CONFLICT DO NOTHING
"""

ROLL_UP = """
INSERT INTO traces (project_id, trace_id, start_ns, end_ns, root_name, has_root, span_count,
                    error_count, environment, service_name, test_run_id, test_case_id,
                    test_result_id, input_tokens, output_tokens)
SELECT project_id, trace_id, min(start_ns), max(end_ns),
       (array_agg(name ORDER BY start_ns) FILTER (WHERE parent_span_id IS NULL))[1],
       bool_or(parent_span_id IS NULL), count(*), count(*) FILTER (WHERE status_code = 'ERROR'),
       min(environment), min(service_name), min(test_run_id), min(test_case_id),
       min(test_result_id), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
FROM spans WHERE project_id = %(project)s GROUP BY project_id, trace_id
"""


def insert_trace(
    connection: psycopg.Connection, project_id: int, number: int, first: int, count: int
) -> None:
    """Trace ``number`` (negative: apart from the ordinary ones) of ``count`` spans."""
    connection.execute(
        LOAD_SPANS.replace("g / %(per)s AS t", f"{number} AS t").replace(
            "g %% %(per)s AS p", "g - %(first)s AS p"
        ),
        {
            "project": project_id,
            "base": BASE_NS,
            "per": SPANS_PER_TRACE,
            "first": first,
            "last": first + count - 1,
        },
    )


def ensure_huge_trace(database_url: str, project_id: int) -> str:
    """Store the 10,000-span trace (number -2) once; returns its id."""
    trace = hashlib.md5(b"t-2").hexdigest()
    with psycopg.connect(database_url, autocommit=True) as connection:
        if connection.execute(
            "SELECT 1 FROM traces WHERE project_id = %s AND trace_id = %s", (project_id, trace)
        ).fetchone():
            return trace
        # Span numbers far above any ordinary trace's, so the span ids stay unique.
        insert_trace(connection, project_id, -2, 10**10, HUGE_TRACE_SPANS)
        connection.execute(
            ROLL_UP.replace(
                "WHERE project_id = %(project)s",
                "WHERE project_id = %(project)s AND trace_id = %(trace)s",
            ),
            {"project": project_id, "trace": trace},
        )
        connection.execute(
            INDEX_SPANS.replace("%(project)s", "%(project)s AND trace_id = %(trace)s"),
            {"project": project_id, "trace": trace},
        )
        connection.execute("ANALYZE spans")
    return trace


def ensure_scores(database_url: str, project_id: int) -> None:
    """One ``helpfulness`` score (0.0, 0.1, ... 0.9) on every 10th trace, stored once."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        if connection.execute(
            "SELECT 1 FROM scores WHERE project_id = %s AND name = 'helpfulness' LIMIT 1",
            (project_id,),
        ).fetchone():
            return
        connection.execute(
            "INSERT INTO scores (project_id, id, trace_id, name, value, source, metadata) "
            "SELECT %(p)s, 'bench-' || n, trace_id, 'helpfulness', (n %% 100) / 100.0, 'api', "
            "'{}'::jsonb FROM (SELECT trace_id, row_number() OVER (ORDER BY trace_id) AS n "
            "FROM traces WHERE project_id = %(p)s) AS numbered WHERE n %% 10 = 0",
            {"p": project_id},
        )
        connection.execute("ANALYZE scores")


def load(database_url: str, project_id: int, total: int) -> str:
    """Store ``total`` spans; returns the id of the 1,000-span trace."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('spans', 'traces', 'span_search') AND indexname NOT LIKE '%%pkey'"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        ordinary = total - BIG_TRACE_SPANS
        step = 200_000
        for first in range(0, ordinary, step):
            last = min(ordinary, first + step) - 1
            connection.execute(
                LOAD_SPANS,
                {
                    "project": project_id,
                    "base": BASE_NS,
                    "per": SPANS_PER_TRACE,
                    "first": first,
                    "last": last,
                },
            )
            print(f"  {last + 1:,} spans", flush=True)
        # The big trace: trace number -1, spans numbered after the others.
        big_first = ordinary + SPANS_PER_TRACE  # keep clear of the last ordinary trace
        insert_trace(connection, project_id, -1, big_first, BIG_TRACE_SPANS)
        connection.execute(ROLL_UP, {"project": project_id})
        print("  search vectors...", flush=True)
        connection.execute(INDEX_SPANS, {"project": project_id})
        print("  rebuilding indexes...", flush=True)
        for _, definition in indexes:
            connection.execute(definition)
        connection.execute("VACUUM ANALYZE spans")
        connection.execute("VACUUM ANALYZE traces")
        connection.execute("VACUUM ANALYZE span_search")
        row = connection.execute("SELECT md5('t' || -1)").fetchone()
        count = connection.execute("SELECT count(*) FROM spans").fetchone()
    assert row is not None and count is not None
    print(f"  {count[0]:,} spans stored", flush=True)
    return str(row[0])


def target_ms(label: str) -> float:
    """The p95 target of a row (issue 15): lists 10 ms, the common-word search 100 ms, the
    1,000-span trace 20 ms, the 10,000-span trace 200 ms."""
    if "every span" in label:
        return 100.0
    if f"{HUGE_TRACE_SPANS:,}-span" in label:
        return 200.0
    if f"{BIG_TRACE_SPANS:,}-span" in label:
        return 20.0
    return 10.0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time of these processes (those still running), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def receiver_pids(port: int) -> set[int]:
    """The ``serve --port PORT`` process and its descendants (its workers)."""
    parents: dict[int, int] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except (OSError, ValueError, IndexError):
            continue
        if b"spanlink.receiver.cli" in cmdline and str(port).encode() in cmdline:
            found.add(int(entry.name))
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grown = bool(children)
    return found


def backend_pids(database_url: str) -> set[int]:
    """The Postgres server processes serving the receiver's connections."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'spanlink-receiver'"
        ).fetchall()
    return {row[0] for row in rows}


def measure(
    client: httpx.Client, path: str, params: dict[str, str], requests: int
) -> tuple[float, float, int]:
    for _ in range(10):  # warm-up
        client.get(path, params=params)
    timings = []
    size = 0
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path, params=params)
        timings.append(time.perf_counter() - t0)
        response.raise_for_status()
        size = len(response.content)
    return percentile(timings, 0.5) * 1000, percentile(timings, 0.95) * 1000, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL", "SPANLINK_DATABASE_URL")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the loaded database under this name and reuse it on the next run",
    )
    parser.add_argument(
        "--detail-only",
        action="store_true",
        help="measure only the trace detail requests (skip the list and search ones)",
    )
    parser.add_argument(
        "--with-10k",
        action="store_true",
        help=f"also store (once) and measure a {HUGE_TRACE_SPANS:,}-span trace",
    )
    parser.add_argument("--only", metavar="TEXT", help="measure only the rows whose label has TEXT")
    parser.add_argument("--port", type=int, help="the receiver's port (default: a free one)")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()

    rows = []
    port = args.port or free_port()
    load_before = load_average()
    with scratch_database(args.database_url, keep=args.keep) as database_url:
        key = create_api_key(database_url, "bench-query")
        project_id = create_project(database_url, "bench-query")
        with psycopg.connect(database_url) as connection:
            stored = connection.execute(
                "SELECT count(*) FROM spans WHERE project_id = %s", (project_id,)
            ).fetchone()
        if stored and stored[0] >= args.spans:
            print(f"reusing the {stored[0]:,} spans of this kept database", flush=True)
            big_trace = hashlib.md5(b"t-1").hexdigest()
        else:
            print(f"loading {args.spans:,} spans...", flush=True)
            started = time.perf_counter()
            big_trace = load(database_url, project_id, args.spans)
            print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
        with (
            receiver_process(database_url, port=port) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client,
        ):
            cases = [
                (
                    "`GET /api/v1/traces?environment=prod` (first page of 50, with total)",
                    "/api/v1/traces",
                    {"environment": "prod"},
                ),
                (
                    "`GET /api/v1/traces?service=billing&status=error`",
                    "/api/v1/traces",
                    {"service": "billing", "status": "error"},
                ),
                (
                    "`GET /api/v1/traces?test_run_id=run-42`",
                    "/api/v1/traces",
                    {"test_run_id": "run-42"},
                ),
                (
                    "`GET /api/v1/traces?q=<one conversation's text>` (full text, selective)",
                    "/api/v1/traces",
                    {"q": hashlib.md5(b"i12345").hexdigest()},
                ),
                (
                    "`GET /api/v1/traces?q=refund&environment=dev` (full text, word in every span)",
                    "/api/v1/traces",
                    {"q": "refund", "environment": "dev"},
                ),
                (
                    "`GET /api/v1/traces?score_name=helpfulness&score_min=0.9` (score filter)",
                    "/api/v1/traces",
                    {"score_name": "helpfulness", "score_min": "0.9"},
                ),
                (
                    f"`GET /api/v1/traces/{{id}}` ({BIG_TRACE_SPANS:,}-span trace)",
                    f"/api/v1/traces/{big_trace}",
                    {},
                ),
                (
                    f"`GET /api/v1/traces/{{id}}?compact=true` ({BIG_TRACE_SPANS:,}-span trace, "
                    "what the viewer reads)",
                    f"/api/v1/traces/{big_trace}",
                    {"compact": "true"},
                ),
            ]
            ensure_scores(database_url, project_id)
            if args.detail_only:
                cases = cases[-2:]
            if args.only:
                cases = [case for case in cases if args.only in case[0]]
            if args.with_10k:
                huge = ensure_huge_trace(database_url, project_id)
                cases += [
                    (
                        f"`GET /api/v1/traces/{{id}}` ({HUGE_TRACE_SPANS:,}-span trace)",
                        f"/api/v1/traces/{huge}",
                        {},
                    ),
                    (
                        f"`GET /api/v1/traces/{{id}}?compact=true` ({HUGE_TRACE_SPANS:,}-span "
                        "trace, what the viewer reads)",
                        f"/api/v1/traces/{huge}",
                        {"compact": "true"},
                    ),
                ]
            with psycopg.connect(database_url) as connection:
                counted = connection.execute(
                    "SELECT count(*) FROM spans WHERE project_id = %s", (project_id,)
                ).fetchone()
            stored_total = counted[0] if counted else 0
            receiver = receiver_pids(port)
            for label, path, params in cases:
                count = args.requests
                backends = backend_pids(database_url)
                cpu_before = _cpu_seconds(receiver), _cpu_seconds(backends)
                p50, p95, size = measure(client, path, params, count)
                # CPU per request (warm-up included): what the wall time is made of on a
                # quiet machine, and what a loaded one cannot hide by queueing.
                backends |= backend_pids(database_url)
                cpu_ms = [
                    (_cpu_seconds(pids) - before) * 1000 / (count + 10)
                    for pids, before in zip((receiver, backends), cpu_before, strict=True)
                ]
                body = client.get(path, params=params).json()
                detail = (
                    f"total {'~' if body.get('total_is_estimate') else ''}{body['total']:,}"
                    if "total" in body
                    else f"{len(body['spans'])} spans"
                )
                print(
                    f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({detail}, {size / 1024:.0f} KiB;"
                    f" CPU per request: receiver {cpu_ms[0]:.1f} ms, Postgres {cpu_ms[1]:.1f} ms)"
                )
                rows.append((label, p50, p95, detail, size, target_ms(label), *cpu_ms))

    load_after = load_average()
    if not args.no_record:
        command = "python bench/bench_query.py " + " ".join(sys.argv[1:])
        lines = "\n".join(
            f"| {label} | {p50:.1f} ms | {p95:.1f} ms | ≤ {target:.0f} ms: "
            f"{'met' if p95 <= target else 'not met'} | {detail}, {size / 1024:.0f} KiB | "
            f"{receiver_cpu:.1f} ms | {postgres_cpu:.1f} ms |"
            for label, p50, p95, detail, size, target, receiver_cpu, postgres_cpu in rows
        )
        section = f"""
## Receiver: query latency with {stored_total:,} spans (`bench/bench_query.py`)

- Command: `{command.strip()}`
- Machine: {machine()}; Postgres, receiver (one uvicorn process) and client share it.
- Load average (1/5/15 min) before: {load_before}; after: {load_after}.
- Date: {datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
- {args.requests} sequential requests per row after 10 warm-up ones, end to end over
  loopback. CPU per request: user + system time of the receiver's processes and of the
  Postgres processes serving it, over the row's requests (warm-up included) — less
  sensitive to the machine's load than the wall times.

| request | p50 | p95 | target p95 | result | receiver CPU / request | Postgres CPU / request |
| --- | ---: | ---: | --- | --- | ---: | ---: |
{lines}
"""
        append_section(section, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
