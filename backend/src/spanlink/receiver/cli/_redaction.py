"""``spanlink-receiver redaction set|show``: a project's redaction rules, in the database.

A running receiver reads the new rules within ``redaction_cache_seconds`` (``PUT
/api/v1/redaction`` through a receiver applies them there at once).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spanlink.receiver.cli._options import add_database_option, check_database, database_url

__all__ = ["add_commands"]


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"spanlink-receiver: {option} takes NAME=VALUE (got {value!r})")
        pairs.append((name, rest))
    return pairs


def _document(args: argparse.Namespace) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    for name, pattern in _pairs(args.rule, "--rule"):
        rules.setdefault(name, {"name": name})["pattern"] = pattern
    for name, globs in _pairs(args.keys, "--keys"):
        rules.setdefault(name, {"name": name})["keys"] = [g for g in globs.split(",") if g]
    builtin = [name.strip() for name in (args.builtin or "").split(",") if name.strip()]
    return {"builtin": builtin, "rules": list(rules.values())}


def _project_id(url: str, name: str) -> int:
    from sqlalchemy import text

    from spanlink.receiver.storage import create_owner_engine

    engine = create_owner_engine(url)
    try:
        with engine.begin() as connection:
            found = connection.execute(
                text("SELECT id FROM projects WHERE name = :n"), {"n": name}
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    if found is None:
        raise SystemExit(f"spanlink-receiver: no project {name!r} (see `keys create`)")
    return int(found)


def _run(args: argparse.Namespace, write: bool) -> int:
    from spanlink.receiver.redaction import (
        RedactionConfigError,
        load_config,
        parse_config,
        save_config,
    )
    from spanlink.receiver.storage import create_owner_engine, project_transaction, upgrade

    url = database_url(args)
    check_database(url)
    upgrade(url)
    config = None
    if write:
        try:
            config = parse_config(_document(args))
        except RedactionConfigError as error:
            print(f"spanlink-receiver: {error}", file=sys.stderr)
            return 2
    project_id = _project_id(url, args.project)
    engine = create_owner_engine(url)
    try:
        with project_transaction(engine, project_id) as connection:
            if config is not None:
                save_config(connection, project_id, config)
            stored, _ = load_config(connection, project_id)
    finally:
        engine.dispose()
    print(json.dumps(stored.to_dict(), indent=2))
    return 0


def add_commands(commands: Any) -> None:
    """Add ``redaction set`` and ``redaction show``."""
    group = commands.add_parser("redaction", help="a project's redaction rules").add_subparsers(
        dest="redaction_command", required=True
    )
    put = group.add_parser(
        "set", help="replace a project's rules (no --builtin/--rule/--keys: redaction off)"
    )
    put.add_argument("--project", required=True)
    put.add_argument("--builtin", help="builtin detectors, comma-separated (email,jwt,...)")
    put.add_argument(
        "--rule", action="append", default=[], metavar="NAME=PATTERN", help="a value pattern"
    )
    put.add_argument(
        "--keys",
        action="append",
        default=[],
        metavar="NAME=GLOB[,GLOB]",
        help="key globs whose values are replaced (with --rule of the same name: the pattern "
        "within those keys)",
    )
    add_database_option(put)
    put.set_defaults(handler=lambda args: _run(args, write=True))
    show = group.add_parser("show", help="print a project's rules")
    show.add_argument("--project", required=True)
    add_database_option(show)
    show.set_defaults(handler=lambda args: _run(args, write=False))
