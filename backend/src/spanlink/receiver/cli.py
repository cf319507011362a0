"""The ``spanlink-receiver`` command: serve, migrate, keys create, traces ls/show."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:4318"


def _database_url(args: argparse.Namespace) -> str:
    from spanlink.receiver.embedded import ensure_database_url

    given = args.database_url or os.environ.get("SPANLINK_DATABASE_URL")
    if not given:
        print("no database URL given: using the embedded Postgres...", file=sys.stderr)
    return ensure_database_url(given)


def _check_database(database_url: str) -> None:
    from spanlink.receiver.db import DatabaseUnavailable, create_owner_engine, database_errors

    engine = create_owner_engine(database_url)
    try:
        with database_errors(), engine.connect():
            pass
    except DatabaseUnavailable as error:
        raise SystemExit(
            f"error: cannot reach the database: {error}\n"
            "Check --database-url / SPANLINK_DATABASE_URL, or leave both unset to use the "
            "embedded Postgres."
        ) from None
    finally:
        engine.dispose()


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise SystemExit(
                    f"error: port {port} on {host} is already in use (another receiver?). "
                    "Stop it or pick another with --port."
                ) from None
            raise SystemExit(f"error: cannot listen on {host}:{port}: {error}") from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spanlink.receiver.app import create_app
    from spanlink.receiver.enrichment.cli import enrichment_options
    from spanlink.receiver.migrate import upgrade
    from spanlink.receiver.settings import Settings

    options = enrichment_options(args)  # a bad combination fails before anything starts
    _check_port(args.host, args.port)
    database_url = _database_url(args)
    _check_database(database_url)
    revision = upgrade(database_url)
    print(f"database at revision {revision}", file=sys.stderr)
    settings = Settings(database_url=database_url, **options)
    print(f"spanlink-receiver listening on http://{args.host}:{args.port}", file=sys.stderr)
    sys.stderr.flush()
    # uvicorn re-raises SIGTERM after its graceful shutdown; turned into a normal exit here,
    # so exit handlers run (they stop the embedded Postgres this process started).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from spanlink.receiver.migrate import upgrade

    database_url = _database_url(args)
    _check_database(database_url)
    print(f"database at revision {upgrade(database_url)}")
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from spanlink.receiver.admin import create_api_key
    from spanlink.receiver.migrate import upgrade

    database_url = _database_url(args)
    _check_database(database_url)
    upgrade(database_url)
    key = create_api_key(database_url, args.project)
    print(key)
    print(
        f"API key for project {args.project!r}; it is shown only this once.",
        file=sys.stderr,
    )
    return 0


def _client(args: argparse.Namespace) -> Any:
    import httpx

    key = args.api_key or os.environ.get("SPANLINK_API_KEY")
    if not key:
        raise SystemExit("error: pass --api-key or set SPANLINK_API_KEY")
    return httpx.Client(
        base_url=args.url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def _get(args: argparse.Namespace, path: str, params: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        with _client(args) as client:
            response = client.get(path, params=params)
    except httpx.HTTPError as error:
        raise SystemExit(f"error: cannot reach the receiver at {args.url}: {error}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail") or response.text
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spanlink-receiver", description="spanlink's OTLP trace receiver."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def database_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--database-url",
            help="PostgreSQL URL (default: $SPANLINK_DATABASE_URL, else the embedded Postgres)",
        )

    serve = commands.add_parser("serve", help="migrate the database and serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4318)
    serve.add_argument("--log-level", default="info")
    database_option(serve)
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply the schema migrations")
    database_option(migrate)
    migrate.set_defaults(handler=_migrate)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key for a project (printed once)")
    create.add_argument("--project", required=True)
    database_option(create)
    create.set_defaults(handler=_keys_create)

    traces = commands.add_parser("traces", help="print traces from a running receiver")
    trace_commands = traces.add_subparsers(dest="traces_command", required=True)

    def client_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--url", default=os.environ.get("SPANLINK_RECEIVER_URL", DEFAULT_URL), help="receiver"
        )
        sub.add_argument("--api-key", help="default: $SPANLINK_API_KEY")

    ls = trace_commands.add_parser("ls", help="list recent traces")
    client_options(ls)
    ls.add_argument("--limit", type=int, default=20)
    for option in ("--environment", "--service", "--test-run-id", "--q"):
        ls.add_argument(option)
    ls.add_argument("--status", choices=["error", "ok"])
    ls.set_defaults(handler=_traces_ls)

    show = trace_commands.add_parser("show", help="print one trace as a tree")
    client_options(show)
    show.add_argument("trace_id")
    show.set_defaults(handler=_traces_show)

    from spanlink.receiver.enrichment.cli import add_commands

    add_commands(commands, serve, database_option)  # plugins, worker, serve --enrichment

    from spanlink.receiver.testruns.cli import add_test_run_command

    add_test_run_command(commands)  # test-run
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
