"""The demo: an embedded receiver, the instrumented example app, a test run, linked traces.

Run it with ``hatch run demo``. It

1. starts ``spanlink-receiver`` on an embedded Postgres in your user data directory (or on
   ``SPANLINK_DATABASE_URL`` / ``--database-url``) and creates a project key;
2. configures tracing for the support-bot example and connects its ``answer`` function as
   an ``@endpoint`` over the WebSocket;
3. pushes a dataset of three cases, each with an output evaluator (``contains``) and a trace
   evaluator (``tool_called`` / ``tool_not_called``), and starts a test run of it through
   the receiver's API: the receiver invokes the endpoint per case, every span of each
   invocation is linked to the case's result, and the evaluators judge the output and
   what the bot did;
4. prints the per-case table (status, latency, spans, tokens, cost, anomalies), the scores
   per case with their explanations, one trace as a tree with its cost, and the trace
   viewer's URL for it;
5. changes the app's behaviour a little (``support_bot.LOOKUP_ORDER_FIRST``: the order is
   looked up before the docs are searched), runs the same dataset again, prints that run
   and its scores, and prints the comparison of the two runs (the order question
   regresses: its answer no longer states the order status, so its ``contains`` evaluator
   fails), the first divergence of that case's two traces, and the viewer URLs of the
   comparison and of the trace diff.

With ``--keep-serving`` (the default when run in a terminal) the receiver keeps running
after that, so the viewer URL can be opened; Ctrl+C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATASET = "support-questions"
CASES = [
    {
        "id": "refund-policy",
        "inputs": {"question": "How long does a refund take?"},
        "evaluators": [
            {"name": "contains", "params": {"value": "5 business days"}},
            {"name": "tool_not_called", "params": {"name": "lookup_order"}},
        ],
    },
    {
        "id": "order-status",
        "inputs": {"question": "Where is my order?", "order_id": "A-1001"},
        "evaluators": [
            {"name": "contains", "params": {"value": "shipped"}},
            {"name": "tool_called", "params": {"name": "lookup_order"}},
        ],
    },
    {
        "id": "unknown-order",
        "inputs": {"question": "Where is my order?", "order_id": "Z-9999"},
        "evaluators": [
            {"name": "contains", "params": {"value": "Order Z-9999"}},
            {"name": "tool_called", "params": {"name": "lookup_order"}},
        ],
    },
]
#: Run statuses before the run settles; every other status is final.
OPEN_STATUSES = {"pending", "running"}

#: Piped into a file or a log, rich would wrap the tables at 80 columns.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 132)


def _money(value: Any) -> str:
    return "-" if value is None else f"${value:.6f}"


def _span_cost(trace: dict[str, Any], span_id: str) -> float | None:
    spans = ((trace.get("enrichment") or {}).get("spans") or {}).get(span_id) or {}
    cost = spans.get("cost") or {}
    return cost.get("total_cost") if cost.get("status") == "ok" else None


def print_trace(trace: dict[str, Any]) -> None:
    """The trace as a tree: names, durations, errors, tokens and cost per span."""
    spans = trace["spans"]
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(span)

    def label(span: dict[str, Any]) -> str:
        attrs = span.get("attributes") or {}
        parts = [f"[bold]{span['name']}[/bold]", f"{span.get('duration_ms') or 0:.1f} ms"]
        if span.get("status_code") == "ERROR":
            parts.append(f"[red]ERROR {span.get('status_message') or ''}[/red]")
        if attrs.get("gen_ai.usage.input_tokens") is not None:
            parts.append(
                f"tokens in={attrs['gen_ai.usage.input_tokens']} "
                f"(cached {attrs.get('gen_ai.usage.cache_read.input_tokens', 0)}) "
                f"out={attrs.get('gen_ai.usage.output_tokens')}"
            )
        cost = _span_cost(trace, span["span_id"])
        if cost is not None:
            parts.append(f"[green]{_money(cost)}[/green]")
        return "  ".join(parts)

    def add(node: Tree, span: dict[str, Any]) -> None:
        branch = node.add(label(span))
        for child in sorted(
            children.get(span["span_id"], []), key=lambda s: s["start_time_unix_nano"]
        ):
            add(branch, child)

    root = Tree(f"trace [cyan]{trace['trace_id']}[/cyan]")
    for span in sorted(children.get(None, []), key=lambda s: s["start_time_unix_nano"]):
        add(root, span)
    console.print(root)
    rollup = (trace.get("enrichment") or {}).get("trace") or {}
    cost = rollup.get("cost") or {}
    if cost:
        console.print(
            f"  cost: {_money(cost.get('total_cost'))}  by model: {cost.get('cost_by_model')}"
        )
    anomalies = (rollup.get("anomaly") or {}).get("anomalies") or []
    for anomaly in anomalies:
        console.print(f"  anomaly [yellow]{anomaly.get('rule')}[/yellow]: {anomaly.get('message')}")


def print_run(run: dict[str, Any]) -> None:
    """One row per case: the result and what its linked traces add up to."""
    table = Table(title=f"test run {run['id']}: {run.get('status')}")
    for column in ("case", "status", "latency", "spans", "tokens in/out", "cost", "anomalies"):
        table.add_column(column)
    for result in run["results"]:
        status = result["status"]
        colour = "green" if status in {"success", "passed"} else "red"
        anomalies = result.get("anomalies") or []
        table.add_row(
            result["case_id"],
            f"[{colour}]{status}[/{colour}]",
            f"{result.get('duration_ms') or 0:.1f} ms",
            str(result.get("span_count")),
            f"{result.get('input_tokens')}/{result.get('output_tokens')}",
            _money(result.get("cost_usd")),
            ", ".join(sorted({a.get("rule", "?") for a in anomalies})) or "-",
        )
    console.print(table)


def print_scores(run: dict[str, Any]) -> None:
    """Every score of every case: evaluator, verdict, value and explanation."""
    table = Table(title="scores")
    for column in ("case", "evaluator", "passed", "value", "explanation"):
        table.add_column(column)
    for result in run["results"]:
        for score in result.get("scores") or []:
            passed = score.get("passed")
            verdict = {True: "[green]yes[/green]", False: "[red]no[/red]"}.get(passed, "-")
            value = score.get("value")
            table.add_row(
                result["case_id"],
                str(score.get("evaluator") or score["name"]),
                verdict,
                "-" if value is None else f"{value:g}",
                str(score.get("explanation") or score.get("error") or "")[:80],
            )
        if not result.get("scores"):
            table.add_row(result["case_id"], "-", "-", "-", "not judged: " + result["status"])
    console.print(table)


def wait_for_run(client: httpx.Client, run_id: str, cases: int, timeout: float) -> dict[str, Any]:
    """Poll the run until it finished and every linked trace is enriched (or the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/test-runs/{run_id}").json()
        results = run.get("results") or []
        done = run.get("status") not in OPEN_STATUSES and len(results) == cases
        if done and all(r.get("enriched") or not r.get("trace_ids") for r in results):
            return run
        if time.monotonic() > deadline:
            console.print("[yellow]the run did not settle in time; showing it as it is[/yellow]")
            return run
        time.sleep(0.1)


def run_dataset(client: httpx.Client, name: str) -> dict[str, Any]:
    """Run the demo's dataset through the receiver (it invokes the endpoint); the settled run."""
    response = client.post(
        "/api/v1/test-runs",
        json={"function": "answer", "environment": "demo", "name": name, "dataset": DATASET},
    )
    response.raise_for_status()
    return wait_for_run(client, response.json()["id"], len(CASES), timeout=30)


def print_comparison(client: httpx.Client, base_url: str, run: str, baseline: str) -> None:
    """The two runs compared, and the first divergence of the first regression's traces."""
    from spanlink.receiver.cli import format_comparison

    answer = client.get(f"/api/v1/test-runs/{run}/compare", params={"baseline": baseline})
    answer.raise_for_status()
    comparison = answer.json()
    console.print(format_comparison(comparison))
    console.print(f"compare them: [bold]{base_url}/ui/#/compare/{run}?baseline={baseline}[/bold]")
    for regression in comparison["regressions"]:
        traces = regression["traces"]
        if not (traces["baseline"] and traces["run"]):
            continue
        a, b = traces["baseline"][0], traces["run"][0]
        diff = client.get(f"/api/v1/traces/{a}/diff/{b}").json()
        first = diff["first_divergence"]
        reasons = "; ".join(reason["message"] for reason in regression["reasons"])
        console.print(f"\nregression [red]{regression['case_id']}[/red]: {reasons}")
        if first is not None:
            console.print(f"first divergence: {first['kind']} {first['name']!r}: {first['reason']}")
        for entry in diff["spans"]:
            if entry["status"] != "same":
                console.print(f"  {entry['status']:8} {entry['name']}")
        console.print(f"diff the traces: [bold]{base_url}/ui/#/diff/{a}/{b}[/bold]")
        break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("SPANLINK_DATABASE_URL"))
    parser.add_argument(
        "--keep-serving",
        action=argparse.BooleanOptionalAction,
        default=sys.stdin.isatty() and sys.stdout.isatty(),
        help="keep the receiver running at the end so the viewer URL can be opened",
    )
    args = parser.parse_args(argv)

    from spanlink.endpoint import connect, endpoint
    from spanlink.receiver.embedded import ensure_database_url
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import create_api_key, upgrade
    from spanlink.tracer import configure, flush

    console.print("starting the receiver (embedded Postgres unless a database URL is given)...")
    database_url = ensure_database_url(args.database_url)
    upgrade(database_url)
    receiver = start_in_thread(Settings(database_url=database_url))
    endpoint_client = None
    try:
        api_key = create_api_key(database_url, "demo")
        console.print(f"receiver at {receiver.url}, project 'demo'")

        configure(endpoint=receiver.url, api_key=api_key, service_name="support-bot")
        import support_bot
        from support_bot import answer

        endpoint(name="answer", description="the support bot's answer to one question")(answer)
        endpoint_client = connect(url=receiver.url, api_key=api_key, environment="demo").start()
        if not endpoint_client.wait_until_registered(15):
            console.print("[red]the example app could not register its endpoint[/red]")
            return 1

        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=receiver.url, headers=headers, timeout=30) as client:
            pushed = client.post("/api/v1/datasets", json={"name": DATASET, "cases": CASES})
            pushed.raise_for_status()
            run = run_dataset(client, "support bot")
            console.print()
            print_run(run)
            print_scores(run)
            traced = [r for r in run["results"] if r.get("trace_id")]
            trace_id = next(
                (r["trace_id"] for r in traced if r.get("cost_usd")),
                traced[0]["trace_id"] if traced else None,
            )
            if trace_id is not None:
                trace = client.get(
                    f"/api/v1/traces/{trace_id}", params={"sync": "true", "full": "true"}
                ).json()
                console.print()
                print_trace(trace)
                console.print(
                    f"\nview it: [bold]{receiver.url}/ui/#/trace/{trace_id}[/bold]  "
                    f"(sign in with the API key {api_key})"
                )

            # A small change to the app, the same cases again, and what it broke.
            support_bot.LOOKUP_ORDER_FIRST = True
            console.print("\nagain, with the order looked up before the docs are searched:")
            second = run_dataset(client, "support bot, order first")
            print_run(second)
            print_scores(second)
            print_comparison(client, receiver.url, second["id"], run["id"])
        if args.keep_serving:
            console.print("the receiver keeps running; press Ctrl+C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        if endpoint_client is not None:
            endpoint_client.stop(5)
        flush(timeout=5)
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
