"""``spanlink-receiver plugins`` and ``spanlink-receiver worker``, and ``serve``'s enrichment
options. Heavy imports happen inside the handlers, so the command line starts quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["add_commands", "enrichment_options"]


def _plugins(args: argparse.Namespace) -> int:
    from spanlink.tracer.plugins import DISABLE_ENV, disabled_plugins, load_plugins

    _, infos = load_plugins()
    disabled = sorted(disabled_plugins())
    if args.json:
        print(
            json.dumps(
                {"plugins": [info.as_dict() for info in infos], "disabled": disabled}, indent=2
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(infos)} spanlink plugins (entry point group 'spanlink')")
    for column in ("name", "distribution", "version", "hooks"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name, info.distribution or "", info.version or "", ", ".join(info.hooks))
    console = Console()
    console.print(table)
    if disabled:
        console.print(f"disabled by {DISABLE_ENV}: {', '.join(disabled)}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from spanlink.receiver.cli import _check_database, _database_url
    from spanlink.receiver.db import create_app_engine
    from spanlink.receiver.enrichment.celery_app import CeleryMissing, run_worker
    from spanlink.receiver.enrichment.service import EnrichmentService
    from spanlink.receiver.migrate import upgrade
    from spanlink.receiver.settings import Settings

    database_url = _database_url(args)
    _check_database(database_url)
    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        broker_url=args.broker,
        celery_queue=args.queue,
        enrichment_workers=args.concurrency,
    )
    service = EnrichmentService(settings, create_app_engine(settings))
    service.warm_up()  # load plugins and their data before taking tasks
    print(
        f"spanlink enrichment worker: queue {args.queue!r}, {args.concurrency} threads",
        file=sys.stderr,
    )
    sys.stderr.flush()
    try:
        run_worker(service, args.broker, args.queue, args.concurrency, args.loglevel)
    except CeleryMissing as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        service.engine.dispose()
    return 0


def enrichment_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Settings`` keyword arguments from ``serve``'s ``--enrichment`` and ``--broker``."""
    options: dict[str, Any] = {}
    if getattr(args, "enrichment", None):
        options["enrichment"] = args.enrichment
    if getattr(args, "broker", None):
        options["broker_url"] = args.broker
    if options.get("enrichment") == "celery" and not (
        options.get("broker_url") or os.environ.get("SPANLINK_BROKER_URL")
    ):
        raise SystemExit("error: --enrichment celery needs --broker redis://HOST:6379/0")
    return options


def add_commands(
    commands: Any,
    serve: argparse.ArgumentParser,
    database_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``plugins`` and ``worker`` to the command line, and ``serve``'s options."""
    serve.add_argument(
        "--enrichment",
        choices=["inprocess", "celery", "off"],
        help="where traces are enriched (default: $SPANLINK_ENRICHMENT, else inprocess)",
    )
    serve.add_argument(
        "--broker", help="Celery broker URL for --enrichment celery (redis://HOST:6379/0)"
    )

    plugins = commands.add_parser("plugins", help="list the discovered enrichment plugins")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(handler=_plugins)

    worker = commands.add_parser("worker", help="run a Celery enrichment worker")
    worker.add_argument(
        "--broker",
        default=os.environ.get("SPANLINK_BROKER_URL"),
        required=not os.environ.get("SPANLINK_BROKER_URL"),
        help="Celery broker URL, e.g. redis://127.0.0.1:6379/0 (default: $SPANLINK_BROKER_URL)",
    )
    worker.add_argument(
        "--queue",
        default=os.environ.get("SPANLINK_CELERY_QUEUE", "spanlink-enrichment"),
        help="queue to consume (the receivers' SPANLINK_CELERY_QUEUE)",
    )
    worker.add_argument("--concurrency", type=int, default=2, help="worker threads")
    worker.add_argument("--loglevel", default="INFO")
    database_option(worker)
    worker.set_defaults(handler=_worker)
