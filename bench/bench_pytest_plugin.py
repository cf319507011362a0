"""Per-test overhead of spanlink-pytest: a 200-test suite with the plugin off and on.

Each test makes one span. The plugin reports to a live receiver (its own process, on a
scratch database). A test's cost is the time between the starts of consecutive tests
(``pytest_runtest_logstart``), so it includes everything the plugin does around a test (its
root and phase spans, the result queued twice, the collector). The added cost per test is
the median with the plugin on minus the median with it off, over interleaved sessions.
Target: <= 2 ms added per test (median).

    hatch run bench:python bench/bench_pytest_plugin.py [--tests 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _receiver_bench import receiver_process, scratch_database
from _report import add_database_url, load_average, load_line, machine

SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("bench")

@pytest.mark.parametrize("n", range({tests}))
def test_trivial(n):
    with tracer.start_as_current_span("work"):
        pass
"""

# Records when each test starts; written at the end of the session.
TIMING = """
import json, os, time

_starts = []

def pytest_runtest_logstart(nodeid, location):
    _starts.append(time.perf_counter())

def pytest_sessionfinish(session):
    _starts.append(time.perf_counter())
    with open(os.environ["BENCH_TIMINGS"], "w") as out:
        json.dump(_starts, out)
"""


def _session(directory: Path, args: list[str], env: dict[str, str]) -> list[float]:
    """One pytest session; per-test times in seconds (the last test's end is the session
    finish, so it is dropped)."""
    timings = directory / "timings.json"
    env = {**env, "BENCH_TIMINGS": str(timings)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the bench suite failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    starts = json.loads(timings.read_text())
    return [later - earlier for earlier, later in itertools.pairwise(starts[:-1])]


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    add_database_url(parser, "SPANLINK_TEST_DATABASE_URL")
    options = parser.parse_args()
    load_before = load_average()
    with (
        scratch_database(options.database_url) as database_url,
        receiver_process(database_url) as url,
        tempfile.TemporaryDirectory() as scratch,
    ):
        from spanlink.receiver.storage import create_api_key

        key = create_api_key(database_url, "bench-pytest")
        directory = Path(scratch)
        (directory / "test_bench.py").write_text(textwrap.dedent(SUITE).format(tests=options.tests))
        (directory / "conftest.py").write_text(textwrap.dedent(TIMING))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        plugin = ["-p", "spanlink.pytest._plugin"]
        on = [*plugin, "--spanlink", "--spanlink-url", url, "--spanlink-api-key", key]
        off_times: list[float] = []
        on_times: list[float] = []
        session_off: list[float] = []
        session_on: list[float] = []
        for round_number in range(options.rounds):
            order = [("off", plugin), ("on", on)]
            if round_number % 2:
                order.reverse()
            for name, args in order:
                started = time.perf_counter()
                times = _session(directory, args, env)
                elapsed = time.perf_counter() - started
                (off_times if name == "off" else on_times).extend(times)
                (session_off if name == "off" else session_on).append(elapsed)
    load_after = load_average()
    off_median = statistics.median(off_times) * 1000
    on_median = statistics.median(on_times) * 1000
    added = on_median - off_median
    verdict = "meets" if added <= 2.0 else "MISSES"
    print("## pytest plugin: per-test overhead (`bench/bench_pytest_plugin.py`)\n")
    print(
        f"Command: `python bench/bench_pytest_plugin.py --tests {options.tests} "
        f"--rounds {options.rounds}`. Machine: {machine()}, Linux; the receiver (its own "
        f"process), Postgres and the sessions share it. Date: {_now()}.\n"
    )
    print(
        f"{options.tests} trivial tests, one span each, plugin off (loaded, not enabled) and on "
        f"(reporting to a live receiver); {options.rounds} interleaved sessions each; a test's "
        "time is the interval between consecutive test starts.\n"
    )
    print("| plugin | per test (median) | per test (p95) | session wall (median) |")
    print("|---|---|---|---|")
    for name, times, sessions in (("off", off_times, session_off), ("on", on_times, session_on)):
        p95 = statistics.quantiles(times, n=20)[-1] * 1000
        print(
            f"| {name} | {statistics.median(times) * 1000:.3f} ms | {p95:.3f} ms | "
            f"{statistics.median(sessions):.2f} s |"
        )
    print(f"\nAdded per test (median): {added:.3f} ms, {verdict} the 2 ms target.")
    print(load_line(load_before, load_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
