"""Where one 512-span ingest batch spends its time, step by step, in one process.

The batches of ``bench_ingest.py`` (GenAI spans, ~1 KB message JSON) go through the
receiver's own steps one at a time on one connection, each timed alone: decode, row
building, the arrays sent as parameters, the merge into ``spans`` and ``traces``, and the
search indexer's work for the batch (after the commit, off the request path). Rows of the
same shape are then inserted into ``spans`` alone and into a copy of it with only the
primary key and the attributes GIN; ``write_batch`` (the receiver's whole database work
for one batch) and the baseline's binary ``COPY`` into the minimal table are timed
alongside, so each cost is shown against the others within one run. Median of ``--reps``
interleaved repetitions, in wall time and in CPU time (this process plus the scratch
database's Postgres backends, read from /proc: steadier than wall time on a loaded
machine, and only meaningful with Postgres on this machine).

    python bench/bench_ingest_breakdown.py [--reps 7] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import machine, scratch_database
from _report import add_database_url, load_average
from bench_ingest import (
    MINIMAL_COLUMNS,
    MINIMAL_TABLE,
    MINIMAL_TYPES,
    _baseline_rows,
    _bodies,
)

from spanlink.receiver.ingest import decode_request, prepare_batch, write_batch
from spanlink.receiver.ingest._write import _INSERT, _MERGE, merge_params
from spanlink.receiver.search import SearchIndexer
from spanlink.receiver.settings import Settings
from spanlink.receiver.storage import create_app_engine, create_project

# A copy of ``spans`` with only the primary key and the attributes GIN, for comparison.
CLONES = """
CREATE TABLE spans_minimal_indexes (LIKE spans INCLUDING DEFAULTS);
ALTER TABLE spans_minimal_indexes ADD PRIMARY KEY (project_id, trace_id, span_id);
CREATE INDEX ON spans_minimal_indexes USING gin (attributes jsonb_path_ops);
"""
STEPS = [
    "decode: gunzip + protobuf parse",
    "rows: records, normalize, JSON encoding (prepare_batch)",
    "rows -> one array per column (merge_params)",
    "merge: insert into spans + search queue + per-trace rollup (one statement)",
    "  the insert into spans alone (every index)",
    "  the insert into a copy of spans with only PK + attributes GIN",
    "search indexer, after the commit: the batch's vectors into span_search",
    "write_batch: the receiver's whole database work for a batch (one transaction)",
    "baseline: binary COPY into the minimal table",
]
INDEXER_STEP = STEPS[6]
WRITE_STEP = STEPS[7]


def _backends(connection: psycopg.Connection[Any]) -> list[int]:
    """Process ids of the Postgres backends serving the scratch database (this machine)."""
    rows = connection.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    ).fetchall()
    return [int(row[0]) for row in rows]


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(backends: list[int]) -> float:
    """CPU seconds used so far by this process and by ``backends`` (read from /proc, so
    only when Postgres runs on this machine; a backend that is gone counts nothing)."""
    total = time.process_time()
    for pid in backends:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL", "SPANLINK_DATABASE_URL")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    load_before = load_average()
    bodies = _bodies((21, 4 * (args.reps + 1)))
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    cpu: dict[str, list[float]] = {step: [] for step in STEPS}
    with scratch_database(args.database_url) as database_url:
        project = create_project(database_url, "breakdown")
        settings = Settings(database_url=database_url, search_indexer=False)
        engine = create_app_engine(settings)
        indexer = SearchIndexer(settings, engine)
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(MINIMAL_TABLE)
            connection.execute(CLONES)

            def timed(step: str, sample: bool, work: Callable[[], Any]) -> Any:
                backends = _backends(connection)
                cpu_before = _cpu(backends)
                started = time.perf_counter()
                out = work()
                if sample:
                    times[step].append(time.perf_counter() - started)
                    cpu[step].append(_cpu(backends) - cpu_before)
                return out

            def insert(table: str, rows: list[tuple[Any, ...]]) -> Any:
                statement = _INSERT.replace("INSERT INTO spans", f"INSERT INTO {table}", 1)
                return connection.execute(statement, merge_params(project, rows))

            def rows_of(body: bytes, parse_only: bool = False) -> Any:
                request = decode_request(body, "application/x-protobuf", "gzip", 1 << 26)[0]
                return request if parse_only else prepare_rows(request)

            def prepare_rows(request: Any) -> list[tuple[Any, ...]]:
                return prepare_batch(project, request).rows

            def copy_minimal(rows: list[tuple[Any, ...]]) -> None:
                with (
                    connection.transaction(),
                    connection.cursor().copy(
                        f"COPY bench_minimal_spans ({MINIMAL_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(MINIMAL_TYPES)
                    for row in rows:
                        copy.write_row(row)

            # The first repetition warms up (plans, caches) and is not counted.
            for rep in range(args.reps + 1):
                sample = rep > 0
                first, second, third, fourth = bodies[4 * rep : 4 * rep + 4]
                request = timed(
                    STEPS[0],
                    sample,
                    partial(rows_of, first, parse_only=True),
                )
                rows = timed(STEPS[1], sample, partial(prepare_rows, request))
                params = timed(STEPS[2], sample, partial(merge_params, project, rows))
                timed(STEPS[3], sample, partial(connection.execute, _MERGE, params))
                timed(INDEXER_STEP, sample, indexer.index_once)
                timed(STEPS[4], sample, partial(insert, "spans", rows_of(second)))
                timed(STEPS[5], sample, partial(insert, "spans_minimal_indexes", rows_of(third)))
                minimal = _baseline_rows([first])[0]
                timed(STEPS[8], sample, partial(copy_minimal, minimal))
                fourth_rows = rows_of(fourth)
                timed(WRITE_STEP, sample, partial(write_batch, engine, project, fourth_rows))
                indexer.drain()
        engine.dispose()
    print(f"Machine: {machine()}; load average before: {load_before}; after: {load_average()}")
    print("| step (one 512-span batch) | median wall | median CPU (client + Postgres) |")
    print("| --- | ---: | ---: |")
    for step in STEPS:
        wall = statistics.median(times[step]) * 1000
        used = statistics.median(cpu[step]) * 1000
        print(f"| {step} | {wall:.1f} ms | {used:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
