"""``spanlink-receiver serve`` and ``spanlink-receiver migrate``."""

from __future__ import annotations

import argparse
import errno
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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spanlink.receiver.app import create_app
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
        ws_max_size=max_frame_bytes(settings),
    )
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
    add_database_option(serve)
    add_serve_options(serve)  # --enrichment, --broker
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply the schema migrations")
    add_database_option(migrate)
    migrate.set_defaults(handler=_migrate)
