"""``spanlink-receiver serve`` and ``spanlink-receiver migrate``."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
from typing import Any

from spanlink.receiver.cli._enrichment import add_serve_options, enrichment_options
from spanlink.receiver.cli._options import add_database_option, check_database, database_url

__all__ = ["add_commands"]


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


def _workers(value: str) -> int:
    """``--workers``: a whole number of processes, at least 1."""
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {workers}")
    return workers


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spanlink.receiver._gc import tune_for_serving
    from spanlink.receiver.app import APP_FACTORY, create_app
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import upgrade
    from spanlink.receiver.testruns.websocket import max_frame_bytes

    options = enrichment_options(args)  # a bad combination fails before anything starts
    _check_port(args.host, args.port)
    url = database_url(args)
    check_database(url)
    revision = upgrade(url)
    print(f"database at revision {revision}", file=sys.stderr)
    settings = Settings(database_url=url, **options)
    workers = f", {args.workers} worker processes" if args.workers > 1 else ""
    print(
        f"spanlink-receiver listening on http://{args.host}:{args.port}{workers}", file=sys.stderr
    )
    sys.stderr.flush()
    served: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
        # A frame larger than this is refused while it arrives, not buffered first.
        "ws_max_size": max_frame_bytes(settings),
    }
    if args.workers == 1:
        # uvicorn re-raises SIGTERM after its graceful shutdown; turned into a normal exit
        # here, so exit handlers run (they stop the embedded Postgres this process started).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        app = create_app(settings)
        tune_for_serving()
        uvicorn.run(app, **served)
        return 0
    # Several processes accept on the one socket this process binds; each builds its own app
    # from the environment (the settings of this command, exported for them). Test runs and
    # enrichment route between them over Postgres as between separate receivers. On SIGINT or
    # SIGTERM this process stops every worker (each drains its requests and runs its
    # shutdown), waits for them, then returns, so exit handlers still run here.
    os.environ.update(settings.to_environment())
    uvicorn.run(APP_FACTORY, factory=True, workers=args.workers, **served)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from spanlink.receiver.storage import upgrade

    url = database_url(args)
    check_database(url)
    print(f"database at revision {upgrade(url)}")
    return 0


def add_commands(commands: Any) -> None:
    """Add ``serve`` and ``migrate``."""
    serve = commands.add_parser("serve", help="migrate the database and serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4318)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes accepting on the one port (default 1)",
    )
    add_database_option(serve)
    add_serve_options(serve)  # --enrichment, --broker
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply the schema migrations")
    add_database_option(migrate)
    migrate.set_defaults(handler=_migrate)
