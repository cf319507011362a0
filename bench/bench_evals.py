"""Evaluation time per case: the builtin output and trace evaluators on a 100-span trace.

One case is judged by every builtin evaluator except ``llm_judge`` (8 output evaluators and
11 trace evaluators, with the cost and anomaly plugins' enrichment of the trace given), two
ways, interleaved in each round:

- direct: each evaluator's ``evaluate`` called in turn (the evaluators' own cost);
- runner: ``spanlink.tracer.evaluation.evaluate_case`` (adds the worker pool, the event loop
  and the per-evaluator deadlines the hosts get).

The trace: an agent run of 100 spans (20 LLM calls, 30 tool calls, 50 other steps).
Reported: median wall and CPU time per case over the rounds. Target: <= 1 ms per case.

    python bench/bench_evals.py [--rounds 7] [--cases 300] [--write]

``--write`` appends the result as a section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from _report import load_average, report

from spanlink.plugins.evals import builtin_evaluators
from spanlink.tracer.evaluation import evaluate_case, find_evaluators, validate_configs
from spanlink.tracer.model import Case, EvaluatorConfig, SpanRecord, Trace
from spanlink.tracer.plugins import call_each, load_plugins

TARGET_MS = 1.0
OUTPUT = json.dumps(
    {"city": "Oslo", "forecast": [{"day": 1, "summary": "Sunny, 21 C"}], "confidence": 0.93}
)
CONFIGS = [
    EvaluatorConfig("equals", {"expected": json.loads(OUTPUT)}),
    EvaluatorConfig("contains", {"value": ["Oslo", "Sunny"], "case_sensitive": False}),
    EvaluatorConfig("not_contains", {"value": ["sorry", "error"]}),
    EvaluatorConfig("regex", {"pattern": r"\d+ C"}),
    EvaluatorConfig(
        "json_schema",
        {
            "schema": {
                "type": "object",
                "required": ["city", "forecast"],
                "properties": {"city": {"type": "string"}, "forecast": {"type": "array"}},
            }
        },
    ),
    EvaluatorConfig("json_path", {"path": "$.forecast[0].summary", "matches": "(?i)sunny"}),
    # The output is no number: scored (and failed) but not required, so the case passes.
    EvaluatorConfig("numeric", {"expected": 0.9, "tolerance": 0.05}, required=False),
    EvaluatorConfig("length", {"max": 500}),
    EvaluatorConfig("tool_called", {"name": "weather", "arguments": {"city": "Oslo"}}),
    EvaluatorConfig("tool_not_called", {"name": "delete_account"}),
    EvaluatorConfig("tool_order", {"names": ["geocode", "weather", "format"]}),
    EvaluatorConfig("max_llm_calls", {"max": 25}),
    EvaluatorConfig("max_tool_calls", {"max": 40}),
    EvaluatorConfig("max_cost_usd", {"max": 1.0}),
    EvaluatorConfig("max_latency_ms", {"max": 60_000}),
    EvaluatorConfig("max_tokens", {"max": 100_000}),
    EvaluatorConfig("no_error_spans", {}),
    EvaluatorConfig("no_anomaly", {"kinds": ["tool_loop", "error_span"]}),
    EvaluatorConfig("span_exists", {"name": "format answer"}),
]
TOOLS = ("geocode", "weather", "format")


def agent_trace() -> Trace:
    """100 spans: a root, 20 LLM calls, 30 tool calls, 49 other steps."""
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    start = 1_700_000_000_000_000_000
    spans = [SpanRecord(trace_id, f"{1:016x}", "agent", start, start + 9_000_000_000)]
    for i in range(99):
        begin = start + (i + 1) * 80_000_000
        attributes: dict[str, Any]
        if i % 5 == 0:
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 800,
                "gen_ai.usage.output_tokens": 120,
            }
            name = "chat gpt-4o-mini"
        elif i % 10 in (1, 4, 7):
            tool = TOOLS[(i // 3) % 3]
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.arguments": json.dumps({"city": "Oslo", "step": i}),
            }
            name = f"execute_tool {tool}"
        else:
            attributes = {"spanlink.kind": "function", "code.function": f"step_{i}"}
            name = "format answer" if i == 98 else f"step {i}"
        spans.append(
            SpanRecord(
                trace_id,
                f"{i + 2:016x}",
                name,
                begin,
                begin + 60_000_000,
                parent_span_id=f"{1:016x}",
                attributes=attributes,
            )
        )
    return Trace.from_spans(spans)


def enrichment_of(trace: Trace) -> dict[str, Any]:
    manager, _ = load_plugins(disabled=frozenset())
    span_results = {
        span.span_id: call_each(manager, "spanlink_enrich_span", span=span, context={})[0]
        for span in trace.spans
    }
    results, _ = call_each(
        manager, "spanlink_enrich_trace", trace=trace, span_results=span_results, context={}
    )
    return {"spans": span_results, "trace": results}


def measure(run: Callable[[], object], cases: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(cases):
        run()
    return (
        (time.perf_counter() - wall) / cases * 1e3,
        (time.process_time() - cpu) / cases * 1e3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = load_average()

    trace = agent_trace()
    enrichment = enrichment_of(trace)
    manager, _ = load_plugins(disabled=frozenset())
    evaluators = find_evaluators(manager)
    validate_configs(CONFIGS, evaluators)
    case = Case("weather-oslo", {"question": "Weather in Oslo?"}, expected=json.loads(OUTPUT))
    by_name = {e.name: e for e in builtin_evaluators()}

    def direct() -> None:
        for config in CONFIGS:
            evaluator = by_name[config.name]
            evaluator.evaluate(
                case,
                OUTPUT,
                trace if evaluator.needs_trace else None,
                params=config.params,
                threshold=config.threshold,
                enrichment=enrichment,
            )

    def runner() -> None:
        result = evaluate_case(
            CONFIGS, case, OUTPUT, trace, evaluators=evaluators, enrichment=enrichment
        )
        if result.status != "passed":
            raise SystemExit(f"the bench case must pass: {result}")

    runner()  # warm-up (compiled patterns, schema validator, worker pool)
    direct()
    samples: dict[str, list[tuple[float, float]]] = {"direct": [], "runner": []}
    for round_ in range(args.rounds):
        order = [("direct", direct), ("runner", runner)]
        for name, run in order if round_ % 2 == 0 else reversed(order):
            samples[name].append(measure(run, args.cases))
    load_after = load_average()
    date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())

    rows = []
    for name, label in (
        ("direct", "evaluators called directly"),
        ("runner", "through `evaluate_case` (pool, loop, deadlines)"),
    ):
        wall = statistics.median(s[0] for s in samples[name])
        cpu = statistics.median(s[1] for s in samples[name])
        rows.append((label, wall, cpu))
    direct_wall, runner_wall = rows[0][1], rows[1][1]
    verdict = "meets" if direct_wall <= TARGET_MS else "MISSES"
    lines = [
        "",
        "## Evaluation per case: builtin output and trace evaluators (`bench/bench_evals.py`)",
        "",
        f"Command: `hatch run bench:python bench/bench_evals.py --rounds {args.rounds} "
        f"--cases {args.cases}`. Machine: {os.cpu_count()} cores (`nproc`), Python "
        f"{platform.python_version()}, {platform.system()}. Date: {date}.",
        "",
        f"One case judged by {len(CONFIGS)} builtin evaluators (all but `llm_judge`: 8 output, "
        "11 trace) on a 100-span agent trace (20 LLM calls, 30 tool calls) with the cost and "
        "anomaly plugins' enrichment; interleaved rounds, median of the rounds. "
        f"Target: <= {TARGET_MS:g} ms per case excluding the judge.",
        "",
        "| path | wall per case (median) | CPU per case (median) |",
        "|---|---|---|",
        *(f"| {label} | {wall:.3f} ms | {cpu:.3f} ms |" for label, wall, cpu in rows),
        "",
        f"Evaluators: {direct_wall:.3f} ms per case ({verdict} the {TARGET_MS:g} ms target); "
        f"through the runner {runner_wall:.3f} ms (its thread hand-offs are the difference).",
    ]
    report(lines, (load_before, load_after), args.write)


if __name__ == "__main__":
    main()
