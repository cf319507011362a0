"""``spanlink-receiver keys create``: a project's API key, printed once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from spanlink.receiver.cli._options import add_database_option, check_database, database_url

__all__ = ["add_commands"]


def _keys_create(args: argparse.Namespace) -> int:
    from spanlink.receiver.storage import create_api_key, upgrade

    url = database_url(args)
    check_database(url)
    upgrade(url)
    key = create_api_key(url, args.project)
    print(key)
    print(
        f"API key for project {args.project!r}; it is shown only this once.",
        file=sys.stderr,
    )
    return 0


def add_commands(commands: Any) -> None:
    """Add ``keys create``."""
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key for a project (printed once)")
    create.add_argument("--project", required=True)
    add_database_option(create)
    create.set_defaults(handler=_keys_create)
