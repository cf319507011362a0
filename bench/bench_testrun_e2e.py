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
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import endpoint_bench, priced_chat_span, serve_endpoints
from _report import command_line, latency_row, machine, percentile, report

SPANS_PER_CASE = 20


def serve_endpoint(url: str, key: str) -> None:
    """The endpoint application (runs in its own process)."""
    from opentelemetry import trace

    from spanlink.endpoint import endpoint
    from spanlink.tracer import configure

    configure(endpoint=url, api_key=key, service_name="bench-endpoint")
    tracer = trace.get_tracer("bench")

    @endpoint
    def case(question: str) -> str:
        for index in range(SPANS_PER_CASE - 1):
            priced_chat_span(tracer, index)
        return f"answer to {question}"

    serve_endpoints(url, key)


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def measure(url: str, key: str, args: argparse.Namespace) -> dict[str, list[float]]:
    import httpx

    cases, warmup, poll_s = args.cases, args.warmup, args.poll_ms / 1000

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
    args, figures, load_before, load_after = endpoint_bench(
        __file__, __doc__, serve_endpoint, measure, count=("cases", 220), warmup=10, poll_ms=2.0
    )

    full = figures["full"]
    p95 = percentile(full, 0.95)
    command = command_line("bench_testrun_e2e.py")
    report(
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
            latency_row(
                "invoke sent -> stored, all spans linked and enriched, returned by GET", full
            ),
            latency_row(
                "invoke sent -> stored and all spans linked (enrichment not awaited)",
                figures["linked"],
            ),
            latency_row(
                "client POST -> stored, linked, enriched, returned by GET", figures["from_post"]
            ),
            "",
            f"p95 {p95:.1f} ms against the 250 ms target: **{'met' if p95 <= 250 else 'not met'}**"
            " (reference design: ~5 s).",
        ],
        (load_before, load_after),
        args.write,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
