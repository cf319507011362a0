"""``spanlink-receiver serve`` and ``spanlink-receiver migrate``.

``serve --port 0 --ready-file PATH [--create-key PROJECT]`` is how a program starts a
receiver of its own (``pytest --spanlink-local`` does): the system picks a free port, and
once the receiver answers, PATH holds ``{"url", "pid", "database_url"}`` (and the new key's
``api_key`` and ``project``) as JSON, written whole or not at all.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import socket
import sys
from pathlib import Path
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


def _write_ready(path: Path, ready: dict[str, Any]) -> None:
    """Write ``ready`` to ``path`` at once (a reader sees all of it or no file), readable
    by this user only: it may hold an API key."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(ready, out)
    os.replace(partial, path)


def _serve_until_stopped(app: Any, served: dict[str, Any], on_started: Any) -> None:
    """``uvicorn.run`` of one process, calling ``on_started(url)`` once it is listening."""
    import uvicorn

    from spanlink.receiver.server import bound_url

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started(bound_url(self, served["host"])[0])

    server = _Server(uvicorn.Config(app, **served))
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C is a normal stop
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's exit code when the server could not start


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spanlink.receiver._gc import tune_for_serving
    from spanlink.receiver.app import APP_FACTORY, create_app
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import upgrade
    from spanlink.receiver.testruns.websocket import max_frame_bytes

    options = enrichment_options(args)  # a bad combination fails before anything starts
    ready_file = Path(args.ready_file) if args.ready_file else None
    if (args.port == 0 or ready_file is not None) and args.workers > 1:
        raise SystemExit("error: --port 0 and --ready-file need one worker process (--workers 1)")
    if args.create_key and ready_file is None:
        raise SystemExit("error: --create-key needs --ready-file (the key is written there)")
    _check_port(args.host, args.port)
    url = database_url(args)
    check_database(url)
    revision = upgrade(url)
    print(f"database at revision {revision}", file=sys.stderr)
    ready: dict[str, Any] = {"pid": os.getpid(), "database_url": url}
    if args.create_key:
        from spanlink.receiver.storage import create_api_key

        ready.update(project=args.create_key, api_key=create_api_key(url, args.create_key))
    settings = Settings(database_url=url, **options)
    workers = f", {args.workers} worker processes" if args.workers > 1 else ""
    if args.port != 0:
        print(
            f"spanlink-receiver listening on http://{args.host}:{args.port}{workers}",
            file=sys.stderr,
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
        if args.port != 0 and ready_file is None:
            uvicorn.run(app, **served)
            return 0

        def started(listening: str) -> None:
            if args.port == 0:
                print(f"spanlink-receiver listening on {listening}", file=sys.stderr, flush=True)
            if ready_file is not None:
                _write_ready(ready_file, {"url": listening, **ready})

        _serve_until_stopped(app, served, started)
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
    serve.add_argument("--port", type=int, default=4318, help="0: a free port (see --ready-file)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes accepting on the one port (default 1)",
    )
    serve.add_argument(
        "--ready-file",
        metavar="PATH",
        help="once serving, write {url, pid, database_url} there as JSON (with --port 0: the "
        "port chosen)",
    )
    serve.add_argument(
        "--create-key",
        metavar="PROJECT",
        help="create an API key for PROJECT at start; written to --ready-file only",
    )
    add_database_option(serve)
    add_serve_options(serve)  # --enrichment, --broker
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply the schema migrations")
    add_database_option(migrate)
    migrate.set_defaults(handler=_migrate)
