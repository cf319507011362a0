"""Run completion latency with evaluators vs without: what judging a case adds.

Setup: a scratch database, ``spanlink-receiver serve`` in its own process (in-process
evaluation, default settings), and an endpoint application in another process (this
script with ``--serve-endpoint``): an agent function producing 20 spans per invocation (a
root, 9 priced LLM calls, 10 tool calls).

Rounds alternate: one run of one case with no evaluators, one with the output evaluators
``contains``, ``regex`` and ``length`` only, then one with ``contains`` and the trace
evaluators ``tool_order``, ``max_cost_usd``, ``no_error_spans`` and ``max_llm_calls``. Each
is timed from the client's ``POST /api/v1/test-runs`` to the ``GET`` that shows the run
``completed`` (polled every ``--poll-ms``). Output evaluators judge the returned output
as the result arrives; with trace evaluators the run completes only once the case's spans
have settled (``evaluation_settle_s``, 0.2 s of quiet, and enrichment) and the evaluators
judged it, so that difference is mostly the wait.

    python bench/bench_evaluation_run.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import endpoint_bench, priced_chat_span, serve_endpoints
from _report import command_line, latency_row, machine, percentile, report

LLM_CALLS = 9
TOOLS = ["search", "lookup", "search", "lookup", "search", "lookup", "search", "lookup", "a", "b"]
OUTPUT_EVALUATORS: list[dict[str, object]] = [
    {"name": "contains", "params": {"value": "answer"}},
    {"name": "regex", "params": {"pattern": "^answer to q[0-9]+$"}},
    {"name": "length", "params": {"min": 5, "max": 200}},
]
TRACE_EVALUATORS: list[dict[str, object]] = [
    {"name": "contains", "params": {"value": "answer"}},
    {"name": "tool_order", "params": {"names": ["search", "lookup", "b"]}},
    {"name": "max_cost_usd", "params": {"max": 1.0}},
    {"name": "no_error_spans"},
    {"name": "max_llm_calls", "params": {"max": 10}},
]


def serve_endpoint(url: str, key: str) -> None:
    """The endpoint application (runs in its own process)."""
    from opentelemetry import trace

    from spanlink.endpoint import endpoint
    from spanlink.tracer import configure

    configure(endpoint=url, api_key=key, service_name="bench-agent")
    tracer = trace.get_tracer("bench")

    @endpoint
    def agent(question: str) -> str:
        for index in range(LLM_CALLS):
            priced_chat_span(tracer, index)
            tool = TOOLS[index]
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
            with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
                pass
        tool = TOOLS[-1]
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
        with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
            pass
        return f"answer to {question}"

    serve_endpoints(url, key)


def measure(url: str, key: str, args: argparse.Namespace) -> dict[str, list[float]]:
    import httpx

    rounds, warmup, poll_s = args.rounds, args.warmup, args.poll_ms / 1000

    evaluators: dict[str, list[dict[str, object]]] = {
        "plain": [],
        "output": OUTPUT_EVALUATORS,
        "evaluated": TRACE_EVALUATORS,
    }
    figures: dict[str, list[float]] = {kind: [] for kind in evaluators}
    figures["unfinished"] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        for index in range(warmup + rounds):
            for kind, judged_by in evaluators.items():
                body: dict[str, object] = {
                    "function": "agent",
                    "cases": [{"inputs": {"question": f"q{index}"}}],
                }
                if judged_by:
                    body["evaluators"] = judged_by
                posted = time.perf_counter()
                response = http.post("/api/v1/test-runs", json=body)
                response.raise_for_status()
                run_id = response.json()["id"]
                deadline = time.monotonic() + 30
                while True:
                    run = http.get(f"/api/v1/test-runs/{run_id}").json()
                    if run["status"] == "completed":
                        break
                    if time.monotonic() > deadline:
                        figures["unfinished"].append(1.0)
                        break
                    time.sleep(poll_s)
                elapsed = (time.perf_counter() - posted) * 1000
                (result,) = run["results"]
                if [s["passed"] for s in result["scores"]] != [True] * len(judged_by):
                    raise SystemExit(f"unexpected verdict: {result['scores']}")
                if index >= warmup and run["status"] == "completed":
                    figures[kind].append(elapsed)
    return figures


def main() -> int:
    args, figures, load_before, load_after = endpoint_bench(
        __file__, __doc__, serve_endpoint, measure, count=("rounds", 60), warmup=5, poll_ms=5.0
    )

    plain, output, evaluated = figures["plain"], figures["output"], figures["evaluated"]
    verdict = "met" if percentile(output, 0.95) <= 250 else "NOT met"
    command = command_line("bench_evaluation_run.py")
    report(
        [
            "",
            "## Test runs: completion latency with output and trace evaluators vs without "
            "(`bench/bench_evaluation_run.py`)",
            "",
            f"- Command: `{command}`",
            f"- Machine: {machine()} ({platform.machine()}); Postgres, receiver process, endpoint "
            "process and this client share it.",
            f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- Each run: one case, one invocation of 20 spans ({LLM_CALLS} priced LLM calls, 10 "
            "tool calls); runs without evaluators, with output evaluators (contains, regex, "
            f"length) and with trace evaluators alternate; {args.warmup} warm-up "
            f"rounds not counted; GET polled every {args.poll_ms:g} ms; unfinished within 30 s: "
            f"{len(figures['unfinished'])}. Trace evaluators: contains, tool_order, "
            "max_cost_usd, no_error_spans, max_llm_calls (in-process, default settings: "
            "evaluation_settle_s 0.2 s).",
            "",
            "| client POST -> run completed | runs | p50 | p95 | p99 |",
            "| --- | ---: | ---: | ---: | ---: |",
            latency_row("no evaluators", plain),
            latency_row("output evaluators (contains, regex, length)", output),
            latency_row("output + trace evaluators", evaluated),
            "",
            f"Target p95 <= 250 ms with output evaluators: **{verdict}** "
            f"(p95 {percentile(output, 0.95):.1f} ms). Trace evaluators, reported separately, "
            f"add p50 {percentile(evaluated, 0.5) - percentile(plain, 0.5):+.1f} ms, p95 "
            f"{percentile(evaluated, 0.95) - percentile(plain, 0.95):+.1f} ms to the run without "
            "evaluators: mostly the settle wait for late spans and enrichment.",
        ],
        (load_before, load_after),
        args.write,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
