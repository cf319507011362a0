"""Enrichment time per trace for the cost + anomaly plugins (target <= 2 ms per trace).

A trace of 100 spans: 20 LLM calls (five models incl. one unknown, cached and reasoning
tokens, one streaming call without usage), 30 tool calls (one tool loop), 49 function spans
and an agent root; one span failed. Ten such traces with different ids and durations are
cycled. Plugins are discovered through their entry points with
``spanlink.tracer.plugins.load_plugins`` (every other installed plugin disabled) and run as
a host runs them: ``call_each(..., "spanlink_enrich_span", ...)`` for each span, then
``call_each(..., "spanlink_enrich_trace", ...)`` with the span results and the host's
baselines. Normalization (done once at ingest) is not part of it.

Reported, after warm-up: median per-trace wall and CPU time over the rounds for cost +
anomaly, cost alone, anomaly alone and two no-op plugins (what the host's dispatch alone
costs), timed interleaved in each round; the ratio of cost + anomaly to the 2 ms target;
the first trace of the process (which loads LiteLLM's price map); and the load average,
since the machine may be shared (CPU time is the figure least disturbed by other load).

    python bench/bench_enrich.py [--rounds 7] [--traces 300] [--write]

``--write`` appends the result as a section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import pluggy
from _report import append_section, load_average, load_line, parse_rounds

from spanlink.tracer.model import SpanRecord, Trace
from spanlink.tracer.plugins import (
    ENTRY_POINT_GROUP,
    call_each,
    get_plugin_manager,
    hookimpl,
    load_plugins,
)

TARGET_MS = 2.0
MEASURED = ("cost", "anomaly")

LLM_CALLS = [  # (model, provider, input, output, cache_read, cache_creation, reasoning)
    ("gpt-4o-2024-08-06", "openai", 1_200, 300, 400, 0, 0),
    ("gpt-4o-mini", "openai", 800, 120, 0, 0, 0),
    ("claude-sonnet-4-5-20250929", "anthropic", 5_000, 700, 2_000, 1_000, 0),
    ("o3-mini", "openai", 900, 1_500, 0, 0, 1_100),
    ("acme-internal-llm", None, 300, 40, 0, 0, 0),
]


def build_trace(index: int) -> Trace:
    """One 100-span agent trace; ``index`` varies ids and durations."""
    trace_id = f"{index + 1:032x}"
    base = 1_700_000_000_000_000_000 + index * 10**12
    spans: list[SpanRecord] = []
    counter = iter(range(1, 10_000))

    def add(
        name: str,
        attributes: dict[str, Any],
        start_ms: float,
        duration_ms: float,
        parent: str | None,
        status: str = "UNSET",
    ) -> str:
        span_id = f"{index:08x}{next(counter):08x}"
        start = base + int(start_ms * 1e6)
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=name,
                start_time_unix_nano=start,
                end_time_unix_nano=start + int(duration_ms * 1e6),
                status_code=status,
                attributes=attributes,
            )
        )
        return span_id

    root = add(
        "invoke_agent planner",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        0,
        20_000,
        None,
    )
    clock = 1.0
    for step in range(20):
        model, provider, tokens_in, tokens_out, cached, created, reasoning = LLM_CALLS[step % 5]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
        }
        if provider:
            attributes["gen_ai.provider.name"] = provider
        if step != 7:  # one streaming call without usage
            attributes.update(
                {
                    "gen_ai.usage.input_tokens": tokens_in + step,
                    "gen_ai.usage.output_tokens": tokens_out,
                    "gen_ai.usage.cache_read.input_tokens": cached,
                    "gen_ai.usage.cache_creation.input_tokens": created,
                    "gen_ai.usage.reasoning.output_tokens": reasoning,
                }
            )
        add(f"chat {model}", attributes, clock, 400 + 10 * step + index, root)
        clock += 500
        for call in range(1 if step < 10 else 2):  # 30 tool calls
            arguments = json.dumps({"q": "same" if step in (12, 13, 14) else f"q{step}-{call}"})
            add(
                "execute_tool search",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "search",
                    "gen_ai.tool.call.arguments": arguments,
                },
                clock,
                50 + call,
                root,
                "ERROR" if (step, call) == (3, 0) else "UNSET",
            )
            clock += 60
    while len(spans) < 100:
        add("format_answer", {"spanlink.kind": "function"}, clock, 1 + len(spans) % 7, root)
        clock += 2
    return Trace.from_spans(spans)


BASELINES: Mapping[str, Any] = {
    "execute_tool search": {"p95_ms": 80.0, "count": 1_000},
    "format_answer": {"p95_ms": 5.0, "count": 5_000},
    **{f"chat {call[0]}": {"p95_ms": 1_500.0, "count": 800} for call in LLM_CALLS},
}


def enrich(manager: pluggy.PluginManager, trace: Trace) -> dict[str, Any]:
    """What a host does per trace: every span hook, then the trace hook."""
    span_results: dict[str, dict[str, Any]] = {}
    context: dict[str, Any] = {}
    for span in trace.spans:
        results, errors = call_each(manager, "spanlink_enrich_span", span=span, context=context)
        if errors:
            raise RuntimeError(f"plugin failed during the benchmark: {errors}")
        span_results[span.span_id] = results
    results, errors = call_each(
        manager,
        "spanlink_enrich_trace",
        trace=trace,
        span_results=span_results,
        context={"baselines": BASELINES},
    )
    if errors:
        raise RuntimeError(f"plugin failed during the benchmark: {errors}")
    return results


def manager_with(names: set[str]) -> pluggy.PluginManager:
    """The installed plugins through entry points, all but ``names`` disabled."""
    installed = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    missing = names - installed
    if missing:
        raise SystemExit(f"plugins not installed: {', '.join(sorted(missing))}")
    manager, infos = load_plugins(disabled=frozenset(installed - names))
    if {info.name for info in infos} != names:
        raise SystemExit(f"could not load {names}: got {[i.name for i in infos]}")
    return manager


class _NoOp:
    """A plugin whose hooks return None: what the host's dispatch alone costs."""

    @hookimpl
    def spanlink_enrich_span(self, span: SpanRecord, context: Mapping[str, Any]) -> None:
        return None

    @hookimpl
    def spanlink_enrich_trace(
        self, trace: Trace, span_results: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        return None


def noop_manager() -> pluggy.PluginManager:
    manager = get_plugin_manager()
    manager.register(_NoOp(), name="noop-1")
    manager.register(_NoOp(), name="noop-2")
    return manager


def per_trace_ms(
    manager: pluggy.PluginManager, traces: list[Trace], count: int
) -> tuple[float, float]:
    """(wall, CPU) milliseconds per trace over ``count`` traces."""
    wall, cpu = time.perf_counter_ns(), time.process_time_ns()
    for i in range(count):
        enrich(manager, traces[i % len(traces)])
    return (
        (time.perf_counter_ns() - wall) / count / 1e6,
        (time.process_time_ns() - cpu) / count / 1e6,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=300, help="traces per side per round")
    args = parse_rounds(parser, argv, rounds=7, minimum=5, figure="a median of >= 5 rounds")

    traces = [build_trace(i) for i in range(10)]
    assert all(len(t.spans) == 100 for t in traces)
    sides = {
        "cost + anomaly": manager_with(set(MEASURED)),
        "cost alone": manager_with({"cost"}),
        "anomaly alone": manager_with({"anomaly"}),
        "two no-op plugins (host dispatch only)": noop_manager(),
    }
    load_before = load_average()
    start = time.perf_counter_ns()
    sample = enrich(sides["cost + anomaly"], traces[0])
    cold_ms = (time.perf_counter_ns() - start) / 1e6
    llm = sum(1 for s in traces[0].spans if s.name.startswith("chat "))
    print(
        f"trace: {len(traces[0].spans)} spans, {llm} LLM spans; "
        f"cost ${sample['cost']['total_cost']:.4f}, "
        f"anomalies {sample['anomaly']['counts']}"
    )
    for manager in sides.values():  # warm-up
        per_trace_ms(manager, traces, 50)

    walls: dict[str, list[float]] = {name: [] for name in sides}
    cpus: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(args.rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for name in order:
            wall, cpu = per_trace_ms(sides[name], traces, args.traces)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load_after = load_average()
    wall_med = {name: statistics.median(values) for name, values in walls.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpus.items()}
    both, both_cpu = wall_med["cost + anomaly"], cpu_med["cost + anomaly"]
    rows = [
        f"| {name} | {wall_med[name]:.3f} ms | {cpu_med[name]:.3f} ms | "
        f"{wall_med[name] / both:.2f} |"
        for name in sides
    ]
    table = "\n".join(
        [
            "| plugins | wall per trace (median) | CPU per trace (median) | wall ratio to "
            "cost + anomaly |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    verdict = "meets" if both <= TARGET_MS else "MISSES"
    summary = (
        f"cost + anomaly: {both:.3f} ms wall ({both_cpu:.3f} ms CPU) per 100-span trace = "
        f"{both / TARGET_MS:.2f} x the {TARGET_MS:g} ms target ({verdict} it); "
        f"{both * 1000 / 100:.1f} us per span.\n"
        f"First trace of the process (loads LiteLLM's price map): {cold_ms:.1f} ms.\n"
        f"{load_line(load_before, load_after)}"
    )
    print(table)
    print(summary)

    if args.write:
        date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout
        runner = (
            f"hatch run {os.environ['HATCH_ENV_ACTIVE']}:"
            if "HATCH_ENV_ACTIVE" in os.environ
            else ""
        )
        command = f"{runner}python bench/bench_enrich.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"
        )
        versions = ", ".join(
            f"{dist} {metadata.version(dist)}"
            for dist in ("spanlink-plugin-cost", "spanlink-plugin-anomaly", "litellm", "pluggy")
        )
        section = (
            "\n## Enrichment per trace: cost + anomaly plugins (`bench/bench_enrich.py`)\n\n"
            f"Command: `{command.strip()}` (rounds={args.rounds}, traces={args.traces}). "
            f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()}. Date: {date.strip()}. Versions: {versions}.\n\n"
            "100-span agent trace (20 LLM calls, 30 tool calls, baselines for the relative "
            "slow-span rule), plugins loaded through their entry points and run with "
            "`call_each` per span then per trace, after warm-up; interleaved rounds, median "
            "of the rounds. Target: <= 2 ms per trace.\n\n"
            f"{table}\n\n{summary}\n"
        )
        append_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
