"""``spanlink-receiver plugins`` and ``spanlink-receiver worker``, and ``serve``'s enrichment
options. Heavy imports happen inside the handlers, so the command line starts quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spanlink.receiver import _env
from spanlink.receiver.cli._options import add_database_option, check_database, database_url

__all__ = ["add_commands", "add_serve_options", "enrichment_options"]


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


def _evaluation_worker(args: argparse.Namespace, url: str) -> int:
    from spanlink.receiver.enrichment import CeleryMissing
    from spanlink.receiver.evaluation import EvaluationService, EvaluatorRegistry
    from spanlink.receiver.evaluation._celery import run_evaluation_worker
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import create_app_engine

    queue = args.queue or _env.get(_env.SPANLINK_EVALUATION_CELERY_QUEUE) or "spanlink-evaluation"
    settings = Settings(database_url=url, broker_url=args.broker, evaluation_celery_queue=queue)
    registry = EvaluatorRegistry()
    registry.evaluators()  # load the evaluator plugins before taking tasks
    service = EvaluationService(settings, create_app_engine(settings), registry)
    threads = args.concurrency
    print(f"spanlink evaluation worker: queue {queue!r}, {threads} threads", file=sys.stderr)
    sys.stderr.flush()
    try:
        run_evaluation_worker(service, args.broker, queue, args.concurrency, args.loglevel)
    except CeleryMissing as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        service.engine.dispose()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from spanlink.receiver.enrichment import CeleryMissing, EnrichmentService, run_worker
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import create_app_engine, upgrade

    url = database_url(args)
    check_database(url)
    upgrade(url)
    if args.evaluation:
        return _evaluation_worker(args, url)
    settings = Settings(
        database_url=url,
        broker_url=args.broker,
        celery_queue=args.queue or _env.get(_env.SPANLINK_CELERY_QUEUE) or "spanlink-enrichment",
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
        run_worker(service, args.broker, settings.celery_queue, args.concurrency, args.loglevel)
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
        options.get("broker_url") or _env.get(_env.SPANLINK_BROKER_URL)
    ):
        raise SystemExit("error: --enrichment celery needs --broker redis://HOST:6379/0")
    return options


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """``serve --enrichment`` and ``serve --broker``."""
    serve.add_argument(
        "--enrichment",
        choices=["inprocess", "celery", "off"],
        help="where traces are enriched (default: $SPANLINK_ENRICHMENT, else inprocess)",
    )
    serve.add_argument(
        "--broker", help="Celery broker URL for --enrichment celery (redis://HOST:6379/0)"
    )


def add_commands(commands: Any) -> None:
    """Add ``plugins`` and ``worker``."""
    plugins = commands.add_parser("plugins", help="list the discovered enrichment plugins")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(handler=_plugins)

    broker = _env.get(_env.SPANLINK_BROKER_URL)
    worker = commands.add_parser("worker", help="run a Celery enrichment (or evaluation) worker")
    worker.add_argument(
        "--broker",
        default=broker,
        required=not broker,
        help="Celery broker URL, e.g. redis://127.0.0.1:6379/0 (default: $SPANLINK_BROKER_URL)",
    )
    worker.add_argument(
        "--queue",
        help="queue to consume (the receivers' SPANLINK_CELERY_QUEUE, default "
        "spanlink-enrichment; with --evaluation their SPANLINK_EVALUATION_CELERY_QUEUE, "
        "default spanlink-evaluation)",
    )
    worker.add_argument(
        "--evaluation",
        action="store_true",
        help="run evaluators on test results (receivers with SPANLINK_EVALUATION=celery) "
        "instead of enriching traces",
    )
    worker.add_argument("--concurrency", type=int, default=2, help="worker threads")
    worker.add_argument("--loglevel", default="INFO")
    add_database_option(worker)
    worker.set_defaults(handler=_worker)
