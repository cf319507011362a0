"""Trace viewer: time to first render of the trace page, 1,000- and 10,000-span traces.

A receiver (in this process, on loopback) serves a scratch database holding one trace of
each size; headless Chromium (Debian's ``/usr/bin/chromium``) opens ``/ui/#/trace/<id>``
in a fresh tab, already signed in, and the page's own mark ``spanlink:trace-rendered``
(set once the header and the visible waterfall rows are in the DOM) gives the time since
navigation start. Split: the trace API call (server + transfer, from the browser's
resource timing) and the rest (page load, JSON parse, layout of the visible rows).
Sizes are interleaved, ``--runs`` each (default 5); medians reported.

    python bench/bench_ui_render.py [--runs 5] [--database-url URL] [--no-record]

Without ``--database-url`` (or ``SPANLINK_BENCH_DATABASE_URL`` /
``SPANLINK_TEST_DATABASE_URL``) the embedded Postgres is used.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _receiver_bench import scratch_database
from _report import add_database_url, load_average, report

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = (1_000, 10_000)


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=int(value)))


def trace_requests(span_count: int, batch: int = 2500) -> tuple[str, list[bytes]]:
    """One trace: a root, steps of 100 calls under it; every 5th call an LLM call (model,
    tokens, a JSON message), every 500th failing. Gzip protobuf bodies of ``batch`` spans."""
    tid = os.urandom(16)
    now = time.time_ns()
    root = os.urandom(8)

    def span(sid: bytes, parent: bytes, name: str, start: int, duration: int) -> Span:
        return Span(
            trace_id=tid,
            span_id=sid,
            parent_span_id=parent,
            name=name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
        )

    spans = [span(root, b"", "large run", now, (span_count + 10) * 1_000_000)]
    step = root
    for i in range(1, span_count):
        start = now + i * 1_000_000
        if i % 100 == 1:
            step = os.urandom(8)
            spans.append(span(step, root, f"step {i // 100}", start, 99_000_000))
            continue
        s = span(os.urandom(8), step, f"call {i}", start, 800_000)
        s.attributes.append(_kv("index", i))
        if i % 5 == 0:
            s.kind = Span.SPAN_KIND_CLIENT
            s.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.usage.input_tokens", 100 + i % 50),
                    _kv("gen_ai.usage.output_tokens", 20),
                    _kv(
                        "gen_ai.input.messages",
                        json.dumps([{"role": "user", "parts": [{"type": "text", "content": "q"}]}]),
                    ),
                ]
            )
        if i % 500 == 0:
            s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="failed"))
        spans.append(s)
    bodies = []
    for k in range(0, len(spans), batch):
        rs = ResourceSpans()
        rs.resource.attributes.append(_kv("service.name", "bench"))
        rs.scope_spans.add().spans.extend(spans[k : k + batch])
        request = ExportTraceServiceRequest(resource_spans=[rs])
        bodies.append(gzip.compress(request.SerializeToString()))
    return tid.hex(), bodies


def wait_enriched(http: httpx.Client, trace_id: str, timeout: float = 300.0) -> None:
    """Let background enrichment finish first, so it does not compete with the browser."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"/api/v1/traces/{trace_id}").json()
        enrichment = body.get("enrichment")
        if enrichment and (enrichment.get("span_count") or 0) >= body["span_count"]:
            return
        time.sleep(0.5)
    print(f"warning: trace {trace_id} not enriched after {timeout} s", file=sys.stderr)


def measure(browser: Any, base: str, key: str, trace_id: str) -> dict[str, float]:
    """One fresh tab: ms from navigation start to the first render, and the API call."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(f"sessionStorage.setItem('spanlink.apiKey', {json.dumps(key)})")
    try:
        page = context.new_page()
        page.goto(f"{base}/ui/#/trace/{trace_id}")
        page.wait_for_selector("main[data-rendered=trace]", timeout=120_000)
        return dict(
            page.evaluate(
                """id => {
                const mark = performance.getEntriesByName('spanlink:trace-rendered')[0];
                const api = performance.getEntriesByType('resource')
                    .find(e => e.name.includes('/api/v1/traces/' + id));
                const rows = document.querySelectorAll('.wf-row').length;
                return {render: mark.startTime, api: api.responseEnd - api.startTime,
                        api_end: api.responseEnd, rows};
            }""",
                trace_id,
            )
        )
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_url(parser, "SPANLINK_BENCH_DATABASE_URL", "SPANLINK_TEST_DATABASE_URL")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=0, help="the receiver's port (0: a free one)")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args, _unknown = parser.parse_known_args()  # run_all.py passes every flag to every script
    if not os.path.exists(CHROMIUM):
        print("Chromium not installed at /usr/bin/chromium (apt-get install chromium)")
        return 1

    from playwright.sync_api import sync_playwright

    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import create_api_key

    load_before = load_average()
    with scratch_database(args.database_url) as url:
        key = create_api_key(url, "bench-ui")
        running = start_in_thread(Settings(database_url=url), port=args.port)
        try:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=running.url, headers=headers, timeout=120) as http:
                traces = {}
                for size in SIZES:
                    trace_id, bodies = trace_requests(size)
                    for body in bodies:
                        answer = http.post(
                            "/v1/traces",
                            content=body,
                            headers={
                                "Content-Type": "application/x-protobuf",
                                "Content-Encoding": "gzip",
                            },
                        )
                        answer.raise_for_status()
                    traces[size] = trace_id
                for trace_id in traces.values():
                    wait_enriched(http, trace_id)
                sizes_kb = {  # the answer the viewer asks for
                    size: len(http.get(f"/api/v1/traces/{tid}", params={"compact": "true"}).content)
                    / 1024
                    for size, tid in traces.items()
                }
            samples: dict[int, list[dict[str, float]]] = {size: [] for size in SIZES}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    for size in SIZES:  # warm-up: caches, JIT, connection pool
                        measure(browser, running.url, key, traces[size])
                    for _ in range(args.runs):
                        for size in SIZES:
                            samples[size].append(measure(browser, running.url, key, traces[size]))
                finally:
                    browser.close()
        finally:
            running.stop()
    load_after = load_average()

    rows = []
    for size in SIZES:
        render = statistics.median(s["render"] for s in samples[size])
        api = statistics.median(s["api"] for s in samples[size])
        rest = statistics.median(s["render"] - s["api_end"] for s in samples[size])
        dom_rows = int(statistics.median(s["rows"] for s in samples[size]))
        rows.append((size, render, api, rest, dom_rows, sizes_kb[size]))
    small, large = rows[0], rows[1]
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "",
        "## Trace viewer: time to first render of the trace page (`bench/bench_ui_render.py`)",
        "",
        f"Command: `python bench/bench_ui_render.py --runs {args.runs}`. "
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {chromium}, "
        f"headless, 1280x800. Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}.",
        "",
        "Receiver in the benchmark process on loopback, Postgres on the same machine; each "
        "sample a fresh tab already signed in; navigation start -> the page's "
        "`spanlink:trace-rendered` mark (header and visible waterfall rows in the DOM). "
        f"Median of {args.runs}, sizes interleaved, after one warm-up each.",
        "",
        "| spans | first render | trace API call | page work after the API answer | "
        "rows in DOM | API body |",
        "|---|---|---|---|---|---|",
    ]
    for size, render, api, rest, dom_rows, kb in rows:
        lines.append(
            f"| {size:,} | {render:.0f} ms | {api:.0f} ms | {rest:.0f} ms | {dom_rows} | "
            f"{kb:,.0f} KiB |"
        )
    lines += [
        "",
        f"10,000 vs 1,000 spans: first render {large[1] / small[1]:.2f}x, page work "
        f"{large[3] / max(small[3], 1e-9):.2f}x (the waterfall keeps only the visible rows in "
        "the DOM and prepares a row when it is first drawn, so page work grows with decoding "
        "and tree-ordering the compact answer, not with drawing).",
    ]
    report(lines, (load_before, load_after), not args.no_record, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
