"""``spanlink-receiver traces ls`` and ``traces show``: traces of a running receiver."""

from __future__ import annotations

import argparse
from typing import Any

from spanlink.receiver.cli._options import add_client_options, client, receiver_url

__all__ = ["add_commands"]


def _get(args: argparse.Namespace, path: str, params: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        with client(args) as http:
            response = http.get(path, params=params)
    except httpx.HTTPError as error:
        url = receiver_url(args)
        raise SystemExit(f"error: cannot reach the receiver at {url}: {error}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("message") or response.text
        except ValueError:
            detail = response.text
        raise SystemExit(f"error: {response.status_code}: {detail}")
    return response.json()


def _traces_ls(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.table import Table

    params = {
        key: value
        for key, value in {
            "limit": args.limit,
            "environment": args.environment,
            "service": args.service,
            "test_run_id": args.test_run_id,
            "status": args.status,
            "q": args.q,
        }.items()
        if value is not None
    }
    listing = _get(args, "/api/v1/traces", params)
    table = Table(title=f"{listing['total']} traces")
    table.add_column("trace id", no_wrap=True, min_width=32)  # ids are copied: never wrap
    for column in ("name", "start (UTC)", "duration ms", "spans", "errors", "tokens"):
        table.add_column(column)
    for row in listing["items"]:
        start = datetime.fromtimestamp(row["start_time_unix_nano"] / 1e9, tz=timezone.utc)
        table.add_row(
            row["trace_id"],
            row["name"] or "",
            start.strftime("%Y-%m-%d %H:%M:%S"),
            f"{row['duration_ms']:.1f}",
            str(row["span_count"]),
            str(row["error_count"]),
            str(row["total_tokens"]),
        )
    Console().print(table)
    return 0


def _traces_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    trace = _get(args, f"/api/v1/traces/{args.trace_id}")
    root = Tree(f"trace [cyan]{trace['trace_id']}[/cyan]  {trace['duration_ms']:.1f} ms")
    nodes: dict[str, Tree] = {}
    for span in trace["spans"]:  # depth-first: a parent always comes before its children
        label = f"[bold]{escape(span['name'])}[/bold]  {span['duration_ms']:.1f} ms"
        if span["status_code"] == "ERROR":
            label += f"  [red]ERROR {escape(span['status_message'] or '')}[/red]"
        parent = nodes.get(span["parent_span_id"] or "") if span["depth"] else None
        nodes[span["span_id"]] = (parent or root).add(label)
    console = Console()
    console.print(root)
    for link in trace["test_links"]:
        console.print(
            f"linked to test run {link['test_run_id']} case {link['test_case_id']} "
            f"result {link['test_result_id']}"
        )
    return 0


def add_commands(commands: Any) -> None:
    """Add ``traces ls`` and ``traces show``."""
    traces = commands.add_parser("traces", help="print traces from a running receiver")
    trace_commands = traces.add_subparsers(dest="traces_command", required=True)

    ls = trace_commands.add_parser("ls", help="list recent traces")
    add_client_options(ls)
    ls.add_argument("--limit", type=int, default=20)
    for option in ("--environment", "--service", "--test-run-id", "--q"):
        ls.add_argument(option)
    ls.add_argument("--status", choices=["error", "ok"])
    ls.set_defaults(handler=_traces_ls)

    show = trace_commands.add_parser("show", help="print one trace as a tree")
    add_client_options(show)
    show.add_argument("trace_id")
    show.set_defaults(handler=_traces_show)
