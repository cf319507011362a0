"""Run comparison and structural trace diff: the pure functions of ``spanlink.receiver.compare``.

- ``diff_traces`` on two 1,000-span agent traces of one case (b has an inserted tool call,
  changed tool arguments, a model change, a failed span and different outputs; costs from
  per-span cost results). Target in the API: <= 100 ms p95. Measured here in-process,
  without the database and HTTP, so it is the share of that budget the diff itself takes.
- ``compare_runs`` on two 1,000-case runs (3 scores per case, latency, tokens, cost, anomalies;
  ~5% regressions), with and without ``first_seen`` over 5 intermediate runs. Target: <= 200
  ms p95.
- Informative: ``diff_traces`` on two 10,000-span traces (the bounded-time case), and a
  diff whose sibling groups exceed the exact-alignment budget.

    python bench/bench_compare.py [--rounds 40] [--gc serving|default] [--api [--database-url URL]]
                                  [--write]

``--api`` also ingests the 1,000-span pair into a scratch database (``wte_bench_compare_*``,
dropped after) and times ``GET /api/v1/traces/{a}/diff/{b}`` on a receiver process:
loading both traces and their enrichment, the diff, and the JSON answer over HTTP.

Wall time per call (``time.perf_counter``), after warm-up; rounds interleave the cases.
``--write`` appends the result as a section to ``bench/RESULTS.md``.

The garbage collector runs as in the process the targets are for: ``--gc serving`` (the
default) applies ``spanlink.receiver._gc.tune_for_serving`` once the modules are imported,
as ``spanlink-receiver serve`` does after building its app (start-up objects frozen, the
serving thresholds); the inputs are built after it, so they are live, collectable heap like
a request's data. ``--gc default`` keeps the interpreter's thresholds and freezes nothing
(an embedding process, e.g. ``start_in_thread``): there a full collection walks every
imported module and every input and lands in some calls. Either way every collection during
a timed call is counted and timed (``gc.callbacks``) and reported with its row.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from _report import append_section, load_average, load_line, parse_rounds

from spanlink.receiver._gc import tune_for_serving
from spanlink.receiver.compare import CaseResult, RunRecord, compare_runs, diff_traces
from spanlink.tracer.model import Score, SpanRecord, Trace
from spanlink.tracer.semconv import attributes as a

DIFF_TARGET_MS = 100.0
COMPARE_TARGET_MS = 200.0
MS = 1_000_000
#: The receiver process of ``--api`` listens here (a port of this benchmark's own range).
API_PORT = 18510


def agent_trace(spans: int, prefix: str, variant: int) -> tuple[Trace, dict[str, Any]]:
    """An agent trace of ``spans`` spans: turns of (chat, tool, tool) under workflow steps.

    ``variant`` 1 differs from 0 as a real regression would: one extra tool call early,
    other arguments for one tool, another model for a few chats, one failed tool, and
    every chat's output different.
    """
    rng = random.Random(11)
    tid = (prefix * 32)[:32]
    out: list[SpanRecord] = []
    costs: dict[str, Any] = {}
    clock = [0]

    def add(name: str, parent: str | None, attrs: dict[str, Any], status: str = "OK") -> str:
        span_id = f"{prefix}{len(out):015x}"
        start = clock[0]
        clock[0] += rng.randrange(1, 5) * MS
        out.append(
            SpanRecord(
                tid,
                span_id,
                name,
                start,
                start + rng.randrange(1, 900) * MS,
                parent,
                status_code=status,
                attributes=attrs,
            )
        )
        return span_id

    root = add("agent", None, {a.GEN_AI_OPERATION_NAME: a.OP_INVOKE_AGENT})
    step = 0
    while len(out) < spans:
        parent = add(f"step {step % 5}", root, {a.SPANLINK_KIND: a.KIND_CHAIN})
        for turn in range(4):
            if len(out) >= spans:
                break
            model = "gpt-4o-mini" if variant and step == 3 and turn == 0 else "gpt-4o"
            chat = add(
                "chat",
                parent,
                {
                    a.GEN_AI_OPERATION_NAME: a.OP_CHAT,
                    a.GEN_AI_REQUEST_MODEL: model,
                    a.GEN_AI_USAGE_INPUT_TOKENS: 800 + turn,
                    a.GEN_AI_USAGE_OUTPUT_TOKENS: 120 + variant,
                    a.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_calls"],
                    a.GEN_AI_OUTPUT_MESSAGES: f'[{{"text": "answer {step} {turn} {variant}"}}]',
                },
            )
            costs[chat] = {"cost": {"status": "ok", "total_cost": 0.0021 + variant * 0.0001}}
            if variant and step == 1 and turn == 1:
                add(
                    "execute_tool",
                    parent,
                    {a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: "lookup"},
                )
            for tool in ("search", "fetch"):
                if len(out) >= spans:
                    break
                args = f'{{"q": "{step}-{turn}-{variant if step == 7 else 0}"}}'
                failed = variant and step == 9 and tool == "fetch" and turn == 2
                add(
                    "execute_tool",
                    parent,
                    {
                        a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL,
                        a.GEN_AI_TOOL_NAME: tool,
                        a.GEN_AI_TOOL_CALL_ARGUMENTS: args,
                    },
                    "ERROR" if failed else "OK",
                )
        step += 1
    return Trace(tid, out[:spans]), costs


def wide_trace(spans: int, prefix: str, shuffle: bool) -> Trace:
    """One root with ``spans - 1`` tool children; ``shuffle`` reorders them (greedy alignment)."""
    tid = (prefix * 32)[:32]
    names = [f"tool{i % 300}" for i in range(spans - 1)]
    if shuffle:
        random.Random(5).shuffle(names)
    out = [SpanRecord(tid, f"{prefix}{0:015x}", "root", 0, spans * MS)]
    for i, name in enumerate(names, 1):
        attrs = {a.GEN_AI_OPERATION_NAME: a.OP_EXECUTE_TOOL, a.GEN_AI_TOOL_NAME: name}
        out.append(
            SpanRecord(
                tid,
                f"{prefix}{i:015x}",
                "execute_tool",
                i * MS,
                i * MS + 5,
                out[0].span_id,
                attributes=attrs,
            )
        )
    return Trace(tid, out)


def run_record(run_id: str, cases: int, variant: int) -> RunRecord:
    rng = random.Random(3)  # the same cases in every run; ``variant`` changes a few
    results = []
    for i in range(cases):
        worse = variant and i % 20 == 0
        status = "failed" if worse and i % 40 == 0 else ("passed" if i % 13 else "failed")
        passed = status == "passed"
        relevance = round(rng.uniform(0.6, 1.0) - (0.3 if worse else 0.0), 3)
        scores = {
            "exact_match": Score("exact_match", value=1.0 if passed else 0.0, passed=passed),
            "relevance": Score("relevance", value=relevance),
            "faithfulness": Score("faithfulness", value=round(rng.uniform(0.7, 1.0), 3)),
        }
        results.append(
            CaseResult(
                case_id=f"case-{i:05d}",
                status=status,
                scores=scores,
                latency_ms=rng.uniform(200, 2000) * (1.5 if worse else 1.0),
                tokens=rng.randrange(500, 4000),
                cost_usd=rng.uniform(0.001, 0.02) if i % 17 else None,
                anomalies=frozenset({"slow_span"} if rng.random() < 0.1 else ()),
                trace_ids=(f"{i:032x}",),
                result_id=f"{run_id}-{i}",
            )
        )
    return RunRecord(id=run_id, cases=results, dataset="ds", commit=f"commit-{run_id}")


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_otlp_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _otlp_batches(trace: Trace, start_ns: int, size: int = 250) -> list[dict[str, Any]]:
    """The trace as OTLP/JSON request bodies of ``size`` spans each."""
    spans = [
        {
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "parentSpanId": s.parent_span_id or "",
            "name": s.name,
            "kind": 1,
            "startTimeUnixNano": str(start_ns + s.start_time_unix_nano),
            "endTimeUnixNano": str(start_ns + s.end_time_unix_nano),
            "attributes": [{"key": k, "value": _otlp_value(v)} for k, v in s.attributes.items()],
            "status": {"code": 2 if s.is_error else 1},
        }
        for s in trace.spans
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]}
    return [
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans[i : i + size]}]}]}
        for i in range(0, len(spans), size)
    ]


def api_diff_times(traces: Sequence[Trace], rounds: int, server_url: str | None) -> list[float]:
    """Milliseconds per ``GET /api/v1/traces/{a}/diff/{b}`` on a receiver process.

    The traces are ingested (and enriched) into a scratch database first.
    """
    import httpx
    import psycopg
    from _receiver_bench import receiver_process, scratch_database
    from psycopg import sql

    from spanlink.receiver.storage import create_api_key

    name = f"wte_bench_compare_{os.getpid()}"
    try:
        with scratch_database(server_url, keep=name) as database_url:
            key = create_api_key(database_url, "bench-compare")
            headers = {"Authorization": f"Bearer {key}"}
            with (
                receiver_process(database_url, port=API_PORT) as url,
                httpx.Client(base_url=url, headers=headers, timeout=60) as http,
            ):
                start_ns = time.time_ns() - 3600 * 10**9
                for trace in traces:
                    for body in _otlp_batches(trace, start_ns):
                        http.post("/v1/traces", json=body).raise_for_status()
                    http.get(f"/api/v1/traces/{trace.trace_id}", params={"sync": "true"})
                path = f"/api/v1/traces/{traces[0].trace_id}/diff/{traces[1].trace_id}"
                http.get(path).raise_for_status()  # warm-up
                times = []
                for _ in range(rounds):
                    begin = time.perf_counter()
                    http.get(path).raise_for_status()
                    times.append((time.perf_counter() - begin) * 1e3)
                return times
    finally:
        from spanlink.receiver.embedded import ensure_database_url

        with psycopg.connect(ensure_database_url(server_url), autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class GcPauses:
    """Collections the garbage collector ran, per generation, and their wall time (ms)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._start) * 1e3))


def gc_cell(pauses: Sequence[tuple[int, float]]) -> str:
    """``gen 0/1/2 collections; total, longest ms`` of a row's timed calls."""
    counts = [sum(1 for gen, _ in pauses if gen == g) for g in range(3)]
    total = sum(ms for _, ms in pauses)
    longest = max((ms for _, ms in pauses), default=0.0)
    return f"{counts[0]}/{counts[1]}/{counts[2]}; {total:.0f} ms, max {longest:.1f} ms"


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--api", action="store_true", help="also through the API on a receiver process"
    )
    parser.add_argument("--database-url", help="Postgres server for --api (default: embedded)")
    parser.add_argument(
        "--gc",
        choices=("serving", "default"),
        default="serving",
        help="the receiver's serving collector settings (default) or the interpreter's",
    )
    args = parse_rounds(parser, argv, rounds=40, minimum=20, figure="a p95", unit="calls per case")
    if args.gc == "serving":
        tune_for_serving()  # what the receiver does once started; the inputs come after

    ta, costs_a = agent_trace(1000, "a", 0)
    tb, costs_b = agent_trace(1000, "b", 1)
    big_a, _ = agent_trace(10_000, "a", 0)
    big_b, _ = agent_trace(10_000, "b", 1)
    wide_a, wide_b = wide_trace(2000, "a", False), wide_trace(2000, "b", True)
    base, current = run_record("base", 1000, 0), run_record("run", 1000, 1)
    intermediates = [run_record(f"mid{k}", 1000, k % 2) for k in range(5)]

    sample = diff_traces(ta, tb, enrichment_a=costs_a, enrichment_b=costs_b)
    compared = compare_runs(current, base)
    print(
        f"diff: {sample['totals']['counts']}, first divergence: "
        f"{sample['first_divergence']['reason']}; compare: {compared['summary']['counts']}"
    )
    cases: dict[str, Callable[[], object]] = {
        "diff_traces, 2 x 1,000 spans": lambda: diff_traces(
            ta, tb, enrichment_a=costs_a, enrichment_b=costs_b
        ),
        "compare_runs, 2 x 1,000 cases": lambda: compare_runs(current, base),
        "compare_runs + first_seen over 5 runs": lambda: compare_runs(
            current, base, intermediates=intermediates
        ),
        "diff_traces, 2 x 10,000 spans": lambda: diff_traces(big_a, big_b),
        "diff_traces, 2,000 shuffled siblings (greedy)": lambda: diff_traces(wide_a, wide_b),
    }
    slow = {"diff_traces, 2 x 10,000 spans", "diff_traces, 2,000 shuffled siblings (greedy)"}
    for call in cases.values():  # warm-up
        call()
    times: dict[str, list[float]] = {name: [] for name in cases}
    collections: dict[str, list[tuple[int, float]]] = {name: [] for name in cases}
    gc_line = (
        f"collector: {args.gc} (thresholds {gc.get_threshold()}, {gc.get_freeze_count()} "
        f"objects frozen, {len(gc.get_objects())} tracked)"
    )
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    load_before = load_average()
    for round_index in range(args.rounds):
        order = list(cases) if round_index % 2 == 0 else list(reversed(cases))
        for name in order:
            if name in slow and round_index % 4:
                continue  # a quarter of the rounds is enough for the informative ones
            pauses.pauses.clear()
            start = time.perf_counter()
            cases[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
            collections[name].extend(pauses.pauses)
    gc.callbacks.remove(pauses)
    if args.api:
        times["GET /api/v1/traces/{a}/diff/{b}, 2 x 1,000 spans"] = api_diff_times(
            [ta, tb], args.rounds, args.database_url
        )
    load_after = load_average()
    targets = {
        "GET /api/v1/traces/{a}/diff/{b}, 2 x 1,000 spans": DIFF_TARGET_MS,
        "diff_traces, 2 x 1,000 spans": DIFF_TARGET_MS,
        "compare_runs, 2 x 1,000 cases": COMPARE_TARGET_MS,
        "compare_runs + first_seen over 5 runs": COMPARE_TARGET_MS,
    }
    rows = []
    for name, values in times.items():
        target = targets.get(name)
        verdict = "-" if target is None else ("meets" if p95(values) <= target else "MISSES")
        target_text = "-" if target is None else f"{target:.0f} ms"
        gc_text = gc_cell(collections[name]) if name in collections else "(receiver process)"
        rows.append(
            f"| {name} | {len(values)} | {statistics.median(values):.1f} ms | "
            f"{p95(values):.1f} ms | {target_text} | {verdict} | {gc_text} |"
        )
    table = "\n".join(
        [
            "| case | calls | median | p95 | target | verdict | GC in the calls: gen 0/1/2 |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    print(gc_line)
    print(f"load before: {load_before}; after: {load_after}")
    if args.write:
        date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
        api_note = (
            "The GET row is measured through a receiver process on the same machine: loading "
            "both traces and their enrichment from Postgres, the diff, the JSON answer over "
            "loopback HTTP, one request at a time, after the rounds above."
            if args.api
            else "The API target for the diff (100 ms p95) also covers loading both traces and "
            "encoding the answer: not measured here (run with --api)."
        )
        gc_note = (
            "The garbage collector is set as in the receiver's serving processes "
            "(`tune_for_serving` once the modules are imported; the inputs are built after "
            "it, as live heap); the last column counts and times every collection that ran "
            "during a row's calls."
            if args.gc == "serving"
            else "The garbage collector keeps the interpreter's thresholds and freezes nothing "
            "(as an embedding process); the last column counts and times every collection "
            "that ran during a row's calls."
        )
        section = (
            "\n## Compare: structural trace diff and run comparison (`bench/bench_compare.py`)\n\n"
            "Command: `hatch run bench:python bench/bench_compare.py "
            f"--rounds {args.rounds} --gc {args.gc}`. "
            f"Machine: {os.cpu_count()} cores (`nproc`), Python {platform.python_version()}, "
            f"{platform.system()}. Date: {date}.\n\n"
            "The pure functions in-process (no database, no HTTP), wall time per call after "
            "warm-up, rounds interleaved. The 1,000-span pair differs by an inserted tool call, "
            "changed tool arguments, a model change, a failed span and every chat output "
            f"({sample['totals']['counts']}); the runs have ~5% regressions "
            f"({compared['summary']['counts']}). {api_note} {gc_note}\n\n"
            f"{table}\n\n{gc_line.capitalize()}. {load_line(load_before, load_after)}\n"
        )
        append_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
