"""Where one 512-span ingest batch spends its time, step by step, in one process.

The batches of ``bench_ingest.py`` (GenAI spans, ~1 KB message JSON) go through the
receiver's own steps one at a time on one connection, each timed alone: decode, row
building, the ``COPY`` into the staging table, the merge into ``spans`` and ``traces``.
The same staged rows are then inserted into copies of ``spans`` without the full-text
search vector (and without any index but the primary key and the attributes GIN), and the
baseline's binary ``COPY`` into the minimal table is timed alongside, so each cost is
shown against the others within one run. Median of ``--reps`` interleaved repetitions.

    python bench/bench_ingest_breakdown.py [--reps 7] [--database-url URL]
"""

from __future__ import annotations

import argparse
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

from spanlink.receiver.ingest import decode_request, prepare_batch
from spanlink.receiver.ingest._write import _COLUMNS, _MERGE, _STAGING_DDL
from spanlink.receiver.storage import create_project

SEARCH = (
    "to_tsvector('english', left(name || ' ' || coalesce(status_message, '') || ' ' "
    "|| coalesce(attributes->>'spanlink.input', '') || ' ' "
    "|| coalesce(attributes->>'spanlink.output', ''), 100000))"
)
# Copies of ``spans`` for the comparison: without the search column (and its GIN index) but
# with every other index; and with only the primary key and the attributes GIN.
CLONES = """
CREATE TABLE spans_no_search (LIKE spans INCLUDING DEFAULTS);
ALTER TABLE spans_no_search DROP COLUMN search;
ALTER TABLE spans_no_search ADD PRIMARY KEY (project_id, trace_id, span_id);
CREATE INDEX ON spans_no_search (project_id, name);
CREATE INDEX ON spans_no_search (project_id, start_ns);
CREATE INDEX ON spans_no_search (project_id, test_run_id) WHERE test_run_id IS NOT NULL;
CREATE INDEX ON spans_no_search (project_id, test_case_id) WHERE test_case_id IS NOT NULL;
CREATE INDEX ON spans_no_search (project_id, test_result_id) WHERE test_result_id IS NOT NULL;
CREATE INDEX ON spans_no_search USING gin (attributes jsonb_path_ops);
CREATE INDEX ON spans_no_search (project_id, test_run_id, test_case_id)
    WHERE test_result_id IS NULL AND test_run_id IS NOT NULL;
CREATE TABLE spans_minimal_indexes (LIKE spans INCLUDING DEFAULTS);
ALTER TABLE spans_minimal_indexes DROP COLUMN search;
ALTER TABLE spans_minimal_indexes ADD PRIMARY KEY (project_id, trace_id, span_id);
CREATE INDEX ON spans_minimal_indexes USING gin (attributes jsonb_path_ops);
"""
STEPS = [
    "decode: gunzip + protobuf parse",
    "rows: records, normalize, JSON encoding (prepare_batch)",
    "COPY into the staging table (text, 25 columns)",
    "merge: insert into spans + per-trace rollup (one statement)",
    "  insert into spans alone (every index, search vector)",
    "  the search vector alone: to_tsvector of name, status, input, output",
    "  insert into spans without the search vector (other indexes kept)",
    "  insert into spans without the search vector, only PK + attributes GIN",
    "baseline: binary COPY into the minimal table",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL", "SPANLINK_DATABASE_URL")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    load_before = load_average()
    bodies = _bodies((21, 4 * (args.reps + 1)))
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    with scratch_database(args.database_url) as database_url:
        project = create_project(database_url, "breakdown")
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(MINIMAL_TABLE)
            connection.execute(CLONES)
            connection.execute(_STAGING_DDL.replace("ON COMMIT DELETE ROWS", ""))

            def timed(step: str, sample: bool, work: Callable[[], Any]) -> Any:
                started = time.perf_counter()
                out = work()
                if sample:
                    times[step].append(time.perf_counter() - started)
                return out

            def stage(rows: list[tuple[Any, ...]]) -> None:
                connection.execute("TRUNCATE spanlink_staging")
                with connection.cursor().copy(
                    f"COPY spanlink_staging ({_COLUMNS}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)

            def insert(table: str) -> Any:
                return connection.execute(
                    f"INSERT INTO {table} ({_COLUMNS}) SELECT {_COLUMNS} FROM spanlink_staging"
                )

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
                timed(STEPS[2], sample, partial(stage, rows))
                timed(STEPS[3], sample, lambda: connection.execute(_MERGE))
                stage(rows_of(second))
                timed(STEPS[4], sample, lambda: insert("spans"))
                timed(
                    STEPS[5],
                    sample,
                    lambda: connection.execute(f"SELECT count({SEARCH}) FROM spanlink_staging"),
                )
                stage(rows_of(third))
                timed(STEPS[6], sample, lambda: insert("spans_no_search"))
                stage(rows_of(fourth))
                timed(STEPS[7], sample, lambda: insert("spans_minimal_indexes"))
                minimal = _baseline_rows([first])[0]
                timed(STEPS[8], sample, partial(copy_minimal, minimal))
    print(f"Machine: {machine()}; load average before: {load_before}; after: {load_average()}")
    print("| step (one 512-span batch) | median |")
    print("| --- | ---: |")
    for step in STEPS:
        print(f"| {step} | {statistics.median(times[step]) * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
