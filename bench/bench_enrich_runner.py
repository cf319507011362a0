"""What the receiver's isolation costs: ``PluginRunner`` vs calling the hooks inline.

Same 100-span traces (20 LLM calls) and plugins (cost + anomaly, loaded through their entry
points) as ``bench_enrich.py``. (a) the reference host loop: ``call_each`` per span then per
trace, on the calling thread; (b) the receiver's ``PluginRunner``: each plugin on its own
thread with a per-trace time budget, results checked to be JSON-safe. Interleaved rounds,
median of the rounds, after warm-up.

    hatch run bench:python bench/bench_enrich_runner.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, load_line, machine
from bench_enrich import BASELINES, MEASURED, build_trace, enrich, manager_with

from spanlink.receiver.enrichment import PluginRunner, PluginSet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--traces", type=int, default=200, help="traces per side per round")
    args, _ = parser.parse_known_args()  # run_all.py passes every script the same flags

    traces = [build_trace(i) for i in range(10)]
    manager = manager_with(set(MEASURED))
    runner = PluginRunner(PluginSet(manager))
    context = {"baselines": BASELINES}

    def inline(trace: object) -> None:
        enrich(manager, trace)  # type: ignore[arg-type]

    def isolated(trace: object) -> None:
        result = runner.run(trace.spans, context, 5.0)  # type: ignore[attr-defined]
        if result.data["errors"]:
            raise RuntimeError(result.data["errors"])

    sides = {"(a) inline call_each (reference)": inline, "(b) PluginRunner (receiver)": isolated}
    for side in sides.values():  # warm-up (loads the price map)
        for trace in traces * 3:
            side(trace)
    load_before = load_average()
    walls: dict[str, list[float]] = {name: [] for name in sides}
    for round_no in range(args.rounds):
        order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
        for name in order:
            started = time.perf_counter()
            for i in range(args.traces):
                sides[name](traces[i % len(traces)])
            walls[name].append((time.perf_counter() - started) / args.traces * 1000)
    load_after = load_average()
    runner.close()

    print(
        f"Command: `python bench/bench_enrich_runner.py --rounds {args.rounds} "
        f"--traces {args.traces}`. Machine: {machine()}, Linux. "
        f"Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}."
    )
    print()
    print("| path | wall per 100-span trace (median) | ratio to (a) |")
    print("|---|---|---|")
    base = statistics.median(walls[next(iter(sides))])
    for name, values in walls.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} ms | {median / base:.2f} |")
    print()
    print(load_line(load_before, load_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
