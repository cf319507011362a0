"""The demo: an embedded receiver, the instrumented example app, and the stored trace.

Run it with ``hatch run demo``. It starts ``spanlink-receiver`` on an embedded Postgres in
your user data directory (or on ``SPANLINK_DATABASE_URL``), creates a project key, runs the
support-bot example inside a test context so its spans are linked to a test result, and
prints each stored trace as a tree with tokens and, once enrichment is available, cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = [
    {"case_id": "refund-policy", "question": "How do refunds work?"},
    {"case_id": "order-status", "question": "Where is my order?", "order_id": "A-1001"},
    {"case_id": "unknown-order", "question": "Where is my order?", "order_id": "Z-9999"},
]


def _print_trace(trace: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    console = Console()
    spans = trace["spans"]
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    ids = {span["span_id"] for span in spans}
    for span in spans:
        parent = span.get("parent_span_id")
        by_parent.setdefault(parent if parent in ids else None, []).append(span)

    def label(span: dict[str, Any]) -> str:
        attrs = span.get("attributes", {})
        parts = [f"[bold]{span['name']}[/bold]", f"{span.get('duration_ms', 0):.1f} ms"]
        if span.get("status_code") == "ERROR":
            parts.append(f"[red]ERROR {span.get('status_message') or ''}[/red]")
        tokens = (attrs.get("gen_ai.usage.input_tokens"), attrs.get("gen_ai.usage.output_tokens"))
        if tokens[0] is not None:
            parts.append(f"tokens in={tokens[0]} out={tokens[1]}")
        cost = (span.get("enrichment") or {}).get("cost") or {}
        if cost.get("total_cost") is not None:
            parts.append(f"${cost['total_cost']:.6f}")
        return "  ".join(parts)

    def add(node: Tree, span: dict[str, Any]) -> None:
        child = node.add(label(span))
        for sub in sorted(
            by_parent.get(span["span_id"], []), key=lambda s: s["start_time_unix_nano"]
        ):
            add(child, sub)

    root = Tree(f"trace [cyan]{trace['trace_id']}[/cyan]")
    for span in sorted(by_parent.get(None, []), key=lambda s: s["start_time_unix_nano"]):
        add(root, span)
    console.print(root)
    links = trace.get("test") or trace.get("test_links")
    if links:
        console.print(f"  linked to test: {json.dumps(links)}")
    enrichment = trace.get("enrichment")
    if enrichment:
        console.print(f"  enrichment: {json.dumps(enrichment, indent=2)[:2000]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("SPANLINK_DATABASE_URL"))
    args = parser.parse_args(argv)

    from spanlink.receiver.admin import create_api_key
    from spanlink.receiver.embedded import ensure_database_url
    from spanlink.receiver.migrate import upgrade
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings

    print("starting the receiver (embedded Postgres unless SPANLINK_DATABASE_URL is set)...")
    database_url = ensure_database_url(args.database_url)
    upgrade(database_url)
    receiver = start_in_thread(Settings(database_url=database_url))
    try:
        api_key = create_api_key(database_url, "demo")
        print(f"receiver at {receiver.url}, project 'demo'")

        from spanlink.tracer import configure, flush, test_context

        configure(
            endpoint=receiver.url,
            api_key=api_key,
            service_name="support-bot",
            environment="demo",
        )
        from support_bot import answer

        run_id = f"demo-{uuid.uuid4().hex[:8]}"
        for case in CASES:
            with test_context(
                run_id=run_id, case_id=case["case_id"], result_id=str(uuid.uuid4())
            ):
                try:
                    print(f"  {case['case_id']}: {answer(case['question'], case.get('order_id'))}")
                except KeyError as error:
                    print(f"  {case['case_id']}: failed as expected: {error}")
        if not flush(timeout=10):
            print("warning: not every span was delivered within 10 s", file=sys.stderr)

        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=receiver.url, headers=headers, timeout=10) as client:
            deadline = time.monotonic() + 10
            while True:
                listing = client.get("/api/v1/traces", params={"test_run_id": run_id}).json()
                if len(listing["items"]) >= len(CASES) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            print(f"\n{listing['total']} traces stored for test run {run_id}:\n")
            for row in listing["items"]:
                trace = client.get(
                    f"/api/v1/traces/{row['trace_id']}", params={"sync": "true"}
                ).json()
                _print_trace(trace)
                print()
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
