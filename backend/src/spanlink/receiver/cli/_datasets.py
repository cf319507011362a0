"""``spanlink-receiver datasets push NAME cases.jsonl`` and ``datasets ls|show``.

``push`` sends the file's cases (one JSON object per line: ``id``, ``inputs``,
``expected_output``, ``evaluators``, ``metadata``) as the dataset's next version
(``--add``: they replace the cases of the same id and the others are appended), creating
the dataset on first push; pushing the same cases again makes no new version. Exit status
0 on success, 2 when the file or the receiver refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spanlink.receiver.cli._options import add_client_options, client
from spanlink.receiver.cli._test_runs import (
    CASE_KEYS,
    CasesFileError,
    error_detail,
    read_cases,
    split_version,
)

__all__ = ["add_commands"]


def _call(args: argparse.Namespace, method: str, path: str, **request: Any) -> Any:
    """The JSON answer of a request to the receiver, or None after printing why not."""
    import httpx

    try:
        with client(args, timeout=60) as http:
            answer = http.request(method, path, **request)
    except httpx.HTTPError as error:
        print(f"error: cannot reach the receiver: {error}")
        return None
    if answer.status_code not in (200, 201):
        print(f"error: {answer.status_code}: {error_detail(answer)}")
        return None
    return answer.json()


def _push(args: argparse.Namespace) -> int:
    try:
        cases = read_cases(Path(args.file), allowed=CASE_KEYS)
    except CasesFileError as error:
        print(f"error: {error}")
        return 2
    mode = "add" if args.add else "replace"
    body: dict[str, Any] = {"name": args.name, "cases": cases, "mode": mode}
    if args.description:
        body["description"] = args.description
    pushed = _call(args, "POST", "/api/v1/datasets", json=body)
    if pushed is None:
        return 2
    what = "unchanged"
    if pushed["created"] or pushed["new_version"]:
        what = "created" if pushed["created"] else "new version"
    print(f"dataset {pushed['name']}@{pushed['version']}: {pushed['case_count']} case(s), {what}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    found = _call(args, "GET", "/api/v1/datasets", params={"limit": 500})
    if found is None:
        return 2
    table = Table(title="datasets")
    for column in ("name", "version", "cases", "updated", "description"):
        table.add_column(column)
    for item in found["items"]:
        table.add_row(
            item["name"],
            str(item["latest_version"]),
            str(item["case_count"]),
            (item["updated_at"] or "")[:19],
            item["description"] or "",
        )
    Console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    import json

    try:
        name, version = split_version(args.name)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    params = {"version": version} if version else {}
    found = _call(args, "GET", f"/api/v1/datasets/{name}", params=params)
    if found is None:
        return 2
    for case in found["cases"]:
        print(json.dumps(case, ensure_ascii=False))
    return 0


def add_commands(commands: Any) -> None:
    """Add ``datasets`` to the ``spanlink-receiver`` sub-commands."""
    group = commands.add_parser("datasets", help="named, versioned sets of test cases")
    actions = group.add_subparsers(dest="datasets_command", required=True)
    push = actions.add_parser("push", help="push a JSONL file of cases as the next version")
    push.add_argument("name", help="dataset name")
    push.add_argument("file", help="JSONL: one case per line")
    push.add_argument("--add", action="store_true", help="add to the latest version's cases")
    push.add_argument("--description")
    add_client_options(push)
    push.set_defaults(handler=_push)
    ls = actions.add_parser("ls", help="list the project's datasets")
    add_client_options(ls)
    ls.set_defaults(handler=_ls)
    show = actions.add_parser("show", help="print a version's cases as JSONL")
    show.add_argument("name", help="NAME or NAME@VERSION (default: the latest)")
    add_client_options(show)
    show.set_defaults(handler=_show)
