"""Instructions per call of ``@observe`` against the hand-written span, by callgrind.

Wall time on a shared machine moves with the load; instruction counts do not. This runs
the pairs of ``bench_observe.py`` (the same functions) in one process under
``valgrind --tool=callgrind`` and counts the instructions of the calling thread:

- every provider gets a span processor that drops the span in ``on_end`` (no batch queue,
  no worker thread), so only the caller's work is counted;
- each side of each row is warmed up, then run for 0 calls and for ``--calls`` calls; a
  dump of the counters (``--dump-before=os_getppid``, triggered by ``os.getppid()``)
  separates the runs, and instructions per call = (run of N calls - run of 0 calls) / N,
  so the runner's own fixed cost (e.g. ``asyncio.run``) cancels out.

    python bench/bench_observe_instructions.py [--calls 2000]

Needs ``valgrind`` on the PATH (skipped with a message otherwise) and a Python whose
binary or ``libpython`` has its symbols (``os_getppid``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: (label, runner, observed, hand-written) by the names in bench_observe.
ROWS = (
    ("sync function", "run_sync", "add_observed", "add_manual"),
    ("async function", "run_async", "aadd_observed", "aadd_manual"),
    ("new user: @observe() vs bare span + 4 set_attribute", "run_sync", "f_observed", "f_bare"),
    ("100-chunk generator", "run_gen", "stream_observed", "stream_manual"),
    (
        "100-chunk generator, vs context-correct hand-written (reference)",
        "run_gen",
        "stream_observed",
        "stream_manual_in_context",
    ),
)
#: Instruction-count margins by the first word of a row's label (the wall targets are
#: 1.0 / 1.0 / 1.1 / 1.2; see bench_observe.TARGETS).
MARGINS = {"sync": 1.0, "async": 1.0, "new": 1.0, "100-chunk": 1.10}
#: Generator calls are ~100 chunks each: fewer calls give as many instructions.
GENERATOR_SHARE = 10


def child(calls: int, labels_path: str, only: str | None) -> None:
    """Run inside valgrind: one counter dump between any two runs, labels written in order."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_observe as bench  # imported here: the parent only runs valgrind

    bench.content.configure_content(enabled=True)
    labels: list[str] = []
    for label, runner_name, observed_name, manual_name in _rows(only):
        runner: Any = getattr(bench, runner_name)
        n = max(calls // GENERATOR_SHARE, 10) if runner_name == "run_gen" else calls
        for side, fn in (
            ("obs", getattr(bench, observed_name)),
            ("man", getattr(bench, manual_name)),
        ):
            runner(fn, max(n // 10, 10))  # warm up (tracer cache, adaptive interpreter)
            for count in (0, n):
                os.getppid()  # a dump ends what ran before
                runner(fn, count)
                os.getppid()  # and this one ends the run: every second dump is a run
                labels.append(f"{label}\t{side}\t{count}")
    Path(labels_path).write_text("\n".join(labels) + "\n", encoding="utf-8")


def _rows(only: str | None) -> list[tuple[str, str, str, str]]:
    return [row for row in ROWS if only is None or only in row[0]]


_SUMMARY = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def _instructions(path: Path) -> int:
    match = _SUMMARY.search(path.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise RuntimeError(f"no instruction total in {path}")
    return int(match.group(1))


def _dumps(directory: Path) -> list[Path]:
    """The counter dumps of the main thread, in order (``callgrind.out.<pid>.<n>``)."""
    found = []
    for path in directory.iterdir():
        match = re.fullmatch(r"callgrind\.out\.\d+\.(\d+)(?:-01)?", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per function run")
    parser.add_argument("--only", help="only the rows whose label contains this text")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)  # run_all passes every script the same flags
    if args.child:
        child(args.calls, args.child, args.only)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found on the PATH; instruction counts skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="observe-callgrind-") as tmp:
        directory = Path(tmp)
        labels_path = directory / "labels.txt"
        command = [
            valgrind,
            "--tool=callgrind",
            "--dump-before=os_getppid",
            "--dump-instr=no",
            f"--callgrind-out-file={directory}/callgrind.out.%p",
            sys.executable,
            str(Path(__file__).resolve()),
            "--calls",
            str(args.calls),
            *(["--only", args.only] if args.only else []),
            "--child",
            str(labels_path),
        ]
        env = {**os.environ, "BENCH_OBSERVE_PROCESSOR": "drop", "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            return done.returncode
        labels = labels_path.read_text(encoding="utf-8").splitlines()
        dumps = _dumps(directory)
        # Each dump holds what ran since the one before: start-up and imports, then a run
        # and the stretch to the next run, alternately.
        counts = [_instructions(p) for p in dumps[1 : 2 * len(labels) : 2]]
    if len(counts) != len(labels):
        print(f"expected {len(labels)} dumps, found {len(counts)}", file=sys.stderr)
        return 1
    runs: dict[tuple[str, str], dict[int, int]] = {}
    for line, count in zip(labels, counts, strict=True):
        label, side, calls = line.split("\t")
        runs.setdefault((label, side), {})[int(calls)] = count
    print(
        "| case | @observe instructions/call | hand-written instructions/call | ratio "
        "| margin |\n| --- | ---: | ---: | ---: | --- |"
    )
    for label, *_ in _rows(args.only):
        per_call = {}
        for side in ("obs", "man"):
            (_, zero), (n, full) = sorted(runs[(label, side)].items())
            per_call[side] = (full - zero) / n
        ratio = per_call["obs"] / per_call["man"]
        margin = MARGINS.get(label.split(":")[0].split(" ")[0])
        if "reference" in label or margin is None:
            verdict = "reference"
        else:
            verdict = f"≤ {margin:.2f}: " + ("met" if ratio <= margin else "NOT met")
        print(
            f"| {label} | {per_call['obs']:,.0f} | {per_call['man']:,.0f} | {ratio:.2f} "
            f"| {verdict} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
