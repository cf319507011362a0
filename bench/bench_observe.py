"""Per-call overhead of ``@observe`` against the same span written by hand.

Four pairs, each timed interleaved in one run (the order alternates every round):

- sync: ``@observe`` on ``add(a, b)`` vs ``tracer.start_as_current_span`` with the same
  attributes (``spanlink.kind``, ``spanlink.input``, ``spanlink.output`` as JSON);
- async: the same with ``async def``;
- new user: ``@observe()`` with its defaults on ``f(x, y)`` vs a bare
  ``start_as_current_span`` with four ``set_attribute`` calls, each side with its own
  provider and batch processor (target <= 1.1);
- generator: a 100-chunk generator, ``@observe`` vs a hand-written wrapper recording the
  same attributes (chunk count, joined output; target <= 1.2).

Except in the new-user pair, both sides go through the same global SDK ``TracerProvider``
with a ``BatchSpanProcessor`` around an exporter that drops the spans. Content capture is
on. Reported: median per-call time of each side over the rounds and the median of the
per-round ratios (targets: sync and async <= 1.0).

    python bench/bench_observe.py [--rounds 7] [--calls 20000] [--write]

``--write`` appends the result as a section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from _report import append_section, load_average, load_line, parse_rounds
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanlink.tracer import _content as content
from spanlink.tracer import observe

CHUNKS = 100
#: Wall-ratio targets by the first word of a row's label.
TARGETS = {"sync": 1.0, "async": 1.0, "new": 1.1, f"{CHUNKS}-chunk": 1.2}


class DropExporter(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class DropProcessor(SpanProcessor):
    """Drops each span in ``on_end``: no queue, no worker thread."""


#: ``BENCH_OBSERVE_PROCESSOR=drop`` (set by ``bench_observe_instructions.py``) gives every
#: provider a :class:`DropProcessor` instead of the batch processor, so that an instruction
#: count holds only the caller's work.
DROP_IN_PROCESS = os.environ.get("BENCH_OBSERVE_PROCESSOR") == "drop"


def make_processor(exporter: SpanExporter) -> SpanProcessor:
    return DropProcessor() if DROP_IN_PROCESS else BatchSpanProcessor(exporter)


exporter = DropExporter()
provider = TracerProvider()
provider.add_span_processor(make_processor(exporter))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("bench.manual")


# --- sync ---------------------------------------------------------------------------


@observe
def add_observed(a: int, b: str) -> str:
    return f"{a}{b}"


def add_manual(a: int, b: str) -> str:
    with tracer.start_as_current_span(
        "add_manual",
        attributes={"spanlink.kind": "function", "spanlink.input": json.dumps({"a": a, "b": b})},
    ) as span:
        result = f"{a}{b}"
        span.set_attribute("spanlink.output", json.dumps(result))
        return result


def run_sync(fn: Callable[[int, str], str], calls: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(calls):
        fn(i, "x")
    return (time.perf_counter() - start) / max(calls, 1), (time.thread_time() - cpu) / max(calls, 1)


# --- as a new user writes it ---------------------------------------------------------
# ``@observe()`` with its defaults against the span a user writes by hand without any
# library: ``start_as_current_span`` and four ``set_attribute`` calls, through a provider
# and batch processor of its own (the observed side keeps the global one).

own_provider = TracerProvider()
own_provider.add_span_processor(make_processor(DropExporter()))
own_tracer = own_provider.get_tracer("bench.bare")


@observe()
def f_observed(x: int, y: str) -> str:
    return f"{x}{y}"


def f_bare(x: int, y: str) -> str:
    with own_tracer.start_as_current_span("f_bare") as span:
        span.set_attribute("code.function", "f_bare")
        span.set_attribute("input.x", x)
        span.set_attribute("input.y", y)
        result = f"{x}{y}"
        span.set_attribute("output", result)
        return result


# --- async --------------------------------------------------------------------------


@observe
async def aadd_observed(a: int, b: str) -> str:
    return f"{a}{b}"


async def aadd_manual(a: int, b: str) -> str:
    with tracer.start_as_current_span(
        "aadd_manual",
        attributes={"spanlink.kind": "function", "spanlink.input": json.dumps({"a": a, "b": b})},
    ) as span:
        result = f"{a}{b}"
        span.set_attribute("spanlink.output", json.dumps(result))
        return result


def run_async(fn: Callable[[int, str], Any], calls: int) -> tuple[float, float]:
    async def loop() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.thread_time()
        for i in range(calls):
            await fn(i, "x")
        return (time.perf_counter() - start) / max(calls, 1), (time.thread_time() - cpu) / max(
            calls, 1
        )

    return asyncio.run(loop())


# --- generator ----------------------------------------------------------------------


@observe
def stream_observed(n: int) -> Iterator[str]:
    for _ in range(n):
        yield "tok "


def _inner(n: int) -> Iterator[str]:
    for _ in range(n):
        yield "tok "


def stream_manual(n: int) -> Iterator[str]:
    with tracer.start_as_current_span(
        "stream_manual",
        attributes={"spanlink.kind": "function", "spanlink.input": json.dumps({"n": n})},
    ) as span:
        count = 0
        kept = []
        for chunk in _inner(n):
            count += 1
            kept.append(chunk)
            yield chunk
        span.set_attribute("spanlink.output.chunks", count)
        span.set_attribute("spanlink.output", json.dumps("".join(kept)))


def stream_manual_in_context(n: int) -> Iterator[str]:
    """Hand-written like ``stream_manual`` but context-correct, as ``@observe`` is: the span
    is current only while the generator body runs, never in the caller between steps."""
    span = tracer.start_span(
        "stream_manual_in_context",
        attributes={"spanlink.kind": "function", "spanlink.input": json.dumps({"n": n})},
    )
    span_context = trace.set_span_in_context(span)
    try:
        count = 0
        kept = []
        inner = _inner(n)
        while True:
            token = otel_context.attach(span_context)
            try:
                chunk = next(inner)
            except StopIteration:
                break
            finally:
                otel_context.detach(token)
            count += 1
            kept.append(chunk)
            yield chunk
        span.set_attribute("spanlink.output.chunks", count)
        span.set_attribute("spanlink.output", json.dumps("".join(kept)))
    finally:
        span.end()


def run_gen(fn: Callable[[int], Iterator[str]], calls: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        for _chunk in fn(CHUNKS):
            pass
    return (time.perf_counter() - start) / max(calls, 1), (time.thread_time() - cpu) / max(calls, 1)


# --- driver -------------------------------------------------------------------------


def measure(
    label: str,
    runner: Callable[[Any, int], tuple[float, float]],
    observed: Any,
    manual: Any,
    rounds: int,
    calls: int,
    blocks: int = 10,
) -> dict[str, Any]:
    """Median per-call times and median per-round ratios of ``observed`` vs ``manual``.

    A round alternates the two sides in ``blocks`` blocks of ``calls / blocks`` calls each
    (who goes first alternates too), so that load from elsewhere on a shared machine hits
    both sides alike. Wall time and the calling thread's CPU time are both recorded.
    """
    per_block = max(calls // blocks, 1)
    runner(observed, per_block)  # warm up both sides
    runner(manual, per_block)
    rows: dict[str, list[float]] = {k: [] for k in ("obs", "man", "obs_cpu", "man_cpu")}
    ratios, cpu_ratios = [], []
    for r in range(rounds):
        total = dict.fromkeys(rows, 0.0)
        for b in range(blocks):
            order = [(manual, "man"), (observed, "obs")]
            for fn, side in order if (r + b) % 2 == 0 else order[::-1]:
                wall, cpu = runner(fn, per_block)
                total[side] += wall
                total[side + "_cpu"] += cpu
        for key in rows:
            rows[key].append(total[key] / blocks)
        ratios.append(total["obs"] / total["man"])
        cpu_ratios.append(total["obs_cpu"] / total["man_cpu"])
    return {
        "label": label,
        "observed_us": statistics.median(rows["obs"]) * 1e6,
        "manual_us": statistics.median(rows["man"]) * 1e6,
        "observed_cpu_us": statistics.median(rows["obs_cpu"]) * 1e6,
        "manual_cpu_us": statistics.median(rows["man_cpu"]) * 1e6,
        "ratio": statistics.median(ratios),
        "cpu_ratio": statistics.median(cpu_ratios),
        "ratios": ratios,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per round and side")
    args = parse_rounds(parser, argv, rounds=7, minimum=5, figure="a median of >= 5 rounds")
    content.configure_content(enabled=True)  # content capture on, whatever the environment
    load_before = load_average()
    gen_calls = max(args.calls // 20, 50)
    results = [
        measure("sync function", run_sync, add_observed, add_manual, args.rounds, args.calls),
        measure("async function", run_async, aadd_observed, aadd_manual, args.rounds, args.calls),
        measure(
            "new user: @observe() vs bare span + 4 set_attribute",
            run_sync,
            f_observed,
            f_bare,
            args.rounds,
            args.calls,
        ),
        measure(
            f"{CHUNKS}-chunk generator",
            run_gen,
            stream_observed,
            stream_manual,
            args.rounds,
            gen_calls,
        ),
    ]
    # Reference, not the target: against a hand-written generator that keeps the span
    # current only inside the body (as @observe does), not across the caller's code.
    reference = measure(
        f"{CHUNKS}-chunk generator, vs context-correct hand-written (reference)",
        run_gen,
        stream_observed,
        stream_manual_in_context,
        args.rounds,
        gen_calls,
    )
    provider.force_flush()
    own_provider.force_flush()
    load_after = load_average()
    lines = [
        "| case | @observe µs/call | hand-written µs/call | wall ratio | caller-thread CPU ratio "
        "| target (wall ratio) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for res in [*results, reference]:
        if res is reference:
            verdict = "reference, no target"
        else:
            target = TARGETS[res["label"].split(":")[0].split(" ")[0]]
            verdict = f"≤ {target}: " + ("met" if res["ratio"] <= target else "NOT met")
        lines.append(
            f"| {res['label']} | {res['observed_us']:.2f} | {res['manual_us']:.2f} | "
            f"{res['ratio']:.2f} | {res['cpu_ratio']:.2f} | {verdict} |"
        )
    table = "\n".join(lines)
    print(table)
    for res in [*results, reference]:
        print(
            f"{res['label']}: per-round wall ratios " + ", ".join(f"{x:.2f}" for x in res["ratios"])
        )
    print(f"load average before: {load_before}; after: {load_after}")
    if args.write:
        date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
        section = (
            "\n## @observe overhead vs a hand-written span (`bench/bench_observe.py`)\n\n"
            f"Command: `hatch run bench:observe --rounds {args.rounds} --calls {args.calls}` "
            f"(= `python bench/bench_observe.py ...`). Machine: {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()}. Date: {date}.\n\n"
            "Trivial functions with two small arguments (sync, async) and a 100-chunk generator; "
            "both sides through the same global SDK TracerProvider with a BatchSpanProcessor "
            "around an exporter that drops spans; content capture on (input, output, chunk "
            "count on both sides); the two sides interleaved in 10 blocks per round, "
            f"{args.rounds} rounds, medians of the rounds. The new-user row: `@observe()` with "
            "default content capture on `f(x, y)` against a bare `start_as_current_span` with "
            "four `set_attribute` calls, each side with its own provider and batch processor.\n\n"
            f"{table}\n\n"
            "Generator: @observe runs each step of the generator in a context of its own "
            "that holds the span, so child spans nest under it and the caller never sees it "
            "as current between steps; the plain hand-written baseline leaves its span current "
            "in the caller's code between steps. The reference row compares with a "
            "hand-written generator that does the per-step context switch too "
            f"(ratio {reference['ratio']:.2f}): the extra cost over the plain baseline is "
            "that per-step switch.\n\n"
            f"{load_line(load_before, load_after)}\n"
        )
        append_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
