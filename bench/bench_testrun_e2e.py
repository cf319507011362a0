"""End-to-end test-run latency: ``invoke`` sent -> result stored, spans linked and enriched.

Setup: a scratch database, ``spanlink-receiver serve`` in its own process, and an endpoint
application in another process (this script with ``--serve-endpoint``): ``configure()`` +
``@endpoint`` + ``connect()``, a function producing 20 spans per invocation (a root and 19
LLM spans with token usage, so the cost plugin prices them).

For each case, one ``POST /api/v1/test-runs`` (one case), then ``GET /api/v1/test-runs/{id}``
polled every ``--poll-ms`` until the result is stored, all 20 spans are linked to it and the
trace's enrichment covers every span. Latency is measured from the moment the receiver sent
the ``invoke`` (the result's ``started_at``, written just before sending; same machine,
same clock) to the GET that returned all of it. Reported side by side: the same figure up to
"stored and linked" only, and from the client's POST.

    python bench/bench_testrun_e2e.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SPANS_PER_CASE = 20


def serve_endpoint(url: str, key: str) -> None:
    """The endpoint application (runs in its own process)."""
    from opentelemetry import trace

    from spanlink.endpoint import connect, endpoint
    from spanlink.tracer import configure

    configure(endpoint=url, api_key=key, service_name="bench-endpoint")
    tracer = trace.get_tracer("bench")

    @endpoint
    def case(question: str) -> str:
        for index in range(SPANS_PER_CASE - 1):
            with tracer.start_as_current_span(f"chat gpt-4o-mini #{index}") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.provider.name", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.usage.input_tokens", 120)
                span.set_attribute("gen_ai.usage.output_tokens", 30)
        return f"answer to {question}"

    async def main() -> None:
        client = connect(url, key, reconnect_initial_s=0.1, reconnect_max_s=1.0)
        task = asyncio.ensure_future(client.run())
        if not await client.wait_registered(30):
            raise SystemExit("endpoint did not register")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await client.aclose()
        task.cancel()

    asyncio.run(main())


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def measure(url: str, key: str, cases: int, warmup: int, poll_s: float) -> dict[str, list[float]]:
    import httpx

    figures: dict[str, list[float]] = {"full": [], "linked": [], "from_post": [], "unfinished": []}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        for index in range(warmup + cases):
            posted = time.time()
            response = http.post(
                "/api/v1/test-runs",
                json={"function": "case", "cases": [{"inputs": {"question": f"q{index}"}}]},
            )
            response.raise_for_status()
            run_id = response.json()["id"]
            linked_at: float | None = None
            deadline = time.monotonic() + 10
            while True:
                run = http.get(f"/api/v1/test-runs/{run_id}").json()
                now = time.time()
                [result] = run["results"]
                stored = result["status"] == "passed"
                linked = stored and result["span_count"] == SPANS_PER_CASE
                if linked and linked_at is None:
                    linked_at = now
                if linked and result["enriched"]:
                    break
                if time.monotonic() > deadline:
                    figures["unfinished"].append(1.0)
                    break
                time.sleep(poll_s)
            if index < warmup or linked_at is None or not result["enriched"]:
                continue
            invoked = _parse_time(result["started_at"])
            figures["full"].append((now - invoked) * 1000)
            figures["linked"].append((linked_at - invoked) * 1000)
            figures["from_post"].append((now - posted) * 1000)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="Postgres server (default: embedded)")
    parser.add_argument("--cases", type=int, default=220)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--serve-endpoint", nargs=2, metavar=("URL", "KEY"))
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.serve_endpoint:
        serve_endpoint(*args.serve_endpoint)
        return 0

    from _receiver_bench import machine, percentile, receiver_process, scratch_database

    from spanlink.receiver.storage import create_api_key

    load_before = os.getloadavg()
    with scratch_database(args.database_url) as database_url:
        key = create_api_key(database_url, "bench")
        with receiver_process(database_url) as url:
            app = subprocess.Popen(
                [sys.executable, __file__, "--serve-endpoint", url, key],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "60000"},
            )
            try:
                assert app.stdout is not None
                if app.stdout.readline().strip() != "ready":
                    raise SystemExit("the endpoint application did not start")
                figures = measure(url, key, args.cases, args.warmup, args.poll_ms / 1000)
            finally:
                assert app.stdin is not None
                app.stdin.close()
                try:
                    app.wait(10)
                except subprocess.TimeoutExpired:
                    app.kill()
    load_after = os.getloadavg()

    def row(label: str, values: list[float]) -> str:
        return (
            f"| {label} | {len(values)} | {percentile(values, 0.50):.1f} ms | "
            f"{percentile(values, 0.95):.1f} ms | {percentile(values, 0.99):.1f} ms |"
        )

    full = figures["full"]
    p95 = percentile(full, 0.95)
    command = "python bench/bench_testrun_e2e.py " + " ".join(
        a for a in sys.argv[1:] if a != "--write"
    )
    section = "\n".join(
        [
            "",
            "## Test runs: end-to-end latency (`bench/bench_testrun_e2e.py`)",
            "",
            f"- Command: `{command}`",
            f"- Machine: {machine()} ({platform.machine()}); Postgres, receiver process, endpoint "
            "process and this client share it.",
            f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- Each case: one invocation producing {SPANS_PER_CASE} spans (19 priced LLM spans);"
            f" {args.warmup} warm-up cases not counted; GET polled every {args.poll_ms:g} ms;"
            f" cases that did not finish within 10 s: {len(figures['unfinished'])}.",
            "",
            "| from -> to | cases | p50 | p95 | p99 |",
            "| --- | ---: | ---: | ---: | ---: |",
            row("invoke sent -> stored, all spans linked and enriched, returned by GET", full),
            row(
                "invoke sent -> stored and all spans linked (enrichment not awaited)",
                figures["linked"],
            ),
            row("client POST -> stored, linked, enriched, returned by GET", figures["from_post"]),
            "",
            f"p95 {p95:.1f} ms against the 250 ms target: **{'met' if p95 <= 250 else 'not met'}**"
            " (reference design: ~5 s).",
            f"Load average (1/5/15 min) before: {' / '.join(f'{v:.2f}' for v in load_before)}; "
            f"after: {' / '.join(f'{v:.2f}' for v in load_after)}.",
            "",
        ]
    )
    print(section)
    if args.write:
        with open(Path(__file__).resolve().parent / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
