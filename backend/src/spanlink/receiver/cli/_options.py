"""What the command groups share: the database option, the client options, the checks.

Heavy imports happen inside the functions, so the command line starts quickly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from spanlink.receiver import _env

__all__ = [
    "add_client_options",
    "add_database_option",
    "api_key",
    "check_database",
    "client",
    "database_url",
    "receiver_url",
]


def add_database_option(sub: argparse.ArgumentParser) -> None:
    """``--database-url`` (default: ``$SPANLINK_DATABASE_URL``, else the embedded Postgres)."""
    sub.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: $SPANLINK_DATABASE_URL, else the embedded Postgres)",
    )


def database_url(args: argparse.Namespace) -> str:
    """The database URL of the command: the option, the variable, or the embedded Postgres."""
    from spanlink.receiver.embedded import ensure_database_url

    given = args.database_url or _env.get(_env.SPANLINK_DATABASE_URL)
    if not given:
        print("no database URL given: using the embedded Postgres...", file=sys.stderr)
    return ensure_database_url(given)


def check_database(url: str) -> None:
    """Exit with a one-line error when the database cannot be reached."""
    from spanlink.receiver.storage import DatabaseUnavailable, create_owner_engine, database_errors

    engine = create_owner_engine(url)
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


def add_client_options(sub: argparse.ArgumentParser) -> None:
    """``--url`` and ``--api-key`` of the commands that talk to a running receiver."""
    sub.add_argument(
        "--url",
        help=f"receiver (default: ${_env.SPANLINK_ENDPOINT}, else {_env.DEFAULT_RECEIVER_URL})",
    )
    sub.add_argument("--api-key", help=f"default: ${_env.SPANLINK_API_KEY}")


def receiver_url(args: argparse.Namespace) -> str:
    """``--url``, else ``$SPANLINK_ENDPOINT`` (or the deprecated name), without a trailing /."""
    return str(args.url or _env.receiver_url()).rstrip("/")


def api_key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``$SPANLINK_API_KEY``."""
    return args.api_key or _env.get(_env.SPANLINK_API_KEY)


def client(args: argparse.Namespace, timeout: float = 10) -> Any:
    """An ``httpx.Client`` on the receiver with the API key; exits when there is no key."""
    import httpx

    key = api_key(args)
    if not key:
        raise SystemExit("error: pass --api-key or set SPANLINK_API_KEY")
    return httpx.Client(
        base_url=receiver_url(args), headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )
