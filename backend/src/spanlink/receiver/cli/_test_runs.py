"""``spanlink-receiver test-run``: run test cases against a connected endpoint, print a table.

``cases.jsonl`` holds one JSON object per line: ``{"id": "q1", "inputs": {...},
"expected_output": ...}`` (``id`` and ``expected_output`` optional); ``--dataset NAME[@V]``
runs a dataset version's cases instead (see ``datasets push``). The command starts the
run, shows a progress bar while polling the run, then a table per case (status, latency,
spans, tokens, cost). Exit status: 0 when every case passed, 1 when any did not, 2 when the
run could not be started.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from spanlink.receiver.cli._compare import add_compare_command
from spanlink.receiver.cli._options import add_client_options, api_key, receiver_url

__all__ = [
    "CASE_KEYS",
    "CasesFileError",
    "add_commands",
    "error_detail",
    "format_summary",
    "read_cases",
    "run_command",
    "split_version",
]

_POLL_S = 0.1


class CasesFileError(ValueError):
    """The cases file cannot be used; the message names the line."""


#: The keys a dataset case line may have (``datasets push``).
CASE_KEYS = frozenset({"id", "inputs", "expected_output", "evaluators", "metadata"})
#: The keys a case line of ``test-run --cases`` may have.
RUN_CASE_KEYS = frozenset({"id", "inputs", "expected_output"})


def read_cases(path: Path, allowed: frozenset[str] = RUN_CASE_KEYS) -> list[dict[str, Any]]:
    """Parse a JSONL cases file; raises :class:`CasesFileError` naming the bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CasesFileError(f"cannot read {path}: {error.strerror or error}") from None
    cases: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as error:
            raise CasesFileError(f"{path}:{number}: not valid JSON: {error}") from None
        if not isinstance(case, dict) or not isinstance(case.get("inputs", {}), dict):
            raise CasesFileError(
                f'{path}:{number}: each line must be an object like {{"inputs": {{...}}}}'
            )
        unknown = set(case) - allowed
        if unknown:
            raise CasesFileError(f"{path}:{number}: unknown keys {sorted(unknown)}")
        cases.append(case)
    if not cases:
        raise CasesFileError(f"{path} holds no test cases")
    return cases


def split_version(value: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@VERSION`` -> (name, version or None); ValueError when malformed."""
    name, sep, version = value.partition("@")
    if not sep:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ValueError(f"{value!r}: the version after '@' must be a number >= 1")
    return name, int(version)


def error_detail(response: Any) -> str:
    """The ``message`` of an error answer (``{"code", "message"}``), else its text."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text)
    if not isinstance(body, dict):
        return str(response.text)
    detail = body.get("message", body.get("detail", response.text))
    if isinstance(detail, list):  # validation errors: one line each
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ())[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)


def _money(value: Any) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _scores(scores: list[dict[str, Any]]) -> str:
    """Each score as ``name:pass`` / ``name:FAIL`` / ``name:error`` (or ``name:-``)."""
    marks = []
    for score in scores:
        passed = score.get("passed")
        verdict = "pass" if passed is True else "FAIL" if passed is False else "-"
        marks.append(f"{score.get('name')}:{'error' if score.get('error') else verdict}")
    return ", ".join(marks) or "-"


def format_summary(run: dict[str, Any]) -> Any:
    """The per-case table of a run (a ``rich`` renderable)."""
    from rich.table import Table

    counts = run["progress"]["counts"]
    title = (
        f"test run {run['id']} · {run['function']} · {run['status']} · "
        f"{counts.get('passed', 0)}/{run['progress']['total']} passed"
    )
    table = Table(title=title)
    for column, justify in (
        ("case", "left"),
        ("status", "left"),
        ("latency ms", "right"),
        ("spans", "right"),
        ("tokens in/out", "right"),
        ("cost", "right"),
        ("scores", "left"),
        ("trace", "left"),
        ("error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    styles = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow"}
    for result in run["results"]:
        status = result["status"]
        style = styles.get(status, "")
        duration = result.get("duration_ms")
        table.add_row(
            str(result["case_id"]),
            f"[{style}]{status}[/{style}]" if style else status,
            "-" if duration is None else f"{duration:.1f}",
            str(result.get("span_count", 0)),
            f"{result.get('input_tokens', 0)}/{result.get('output_tokens', 0)}",
            _money(result.get("cost_usd")),
            _scores(result.get("scores") or []),
            (result.get("trace_id") or "-")[:32],
            (result.get("error") or "")[:60],
        )
    return table


def run_command(args: argparse.Namespace) -> int:
    """Start a run, show progress, print the summary; see the module docs."""
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console()
    if not args.function or bool(args.cases) == bool(args.dataset):
        console.print(
            "error: test-run needs --function and one of --cases or --dataset "
            "(or: test-run compare RUN)",
            style="red",
        )
        return 2
    key = api_key(args)
    if not key:
        console.print("error: pass --api-key or set SPANLINK_API_KEY", style="red")
        return 2
    body: dict[str, Any] = {
        "function": args.function,
        "timeout_s": args.timeout,
        "concurrency": args.concurrency,
    }
    if args.dataset:
        try:
            body["dataset"], version = split_version(args.dataset)
        except ValueError as error:
            console.print(f"error: {error}", style="red")
            return 2
        if version is not None:
            body["dataset_version"] = version
    else:
        try:
            body["cases"] = read_cases(Path(args.cases))
        except CasesFileError as error:
            console.print(f"error: {error}", style="red")
            return 2
    for name in ("environment", "configuration_id", "name"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    headers = {"Authorization": f"Bearer {key}"}
    url = receiver_url(args)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            response = http.post("/api/v1/test-runs", json=body)
            if response.status_code != 201:
                detail = error_detail(response)
                console.print(f"error: {response.status_code}: {detail}", style="red")
                return 2
            run_id = response.json()["id"]
            cases = response.json()["results"]
            # Bounded: every case has its deadline; allow them all in sequence plus a margin.
            deadline = time.monotonic() + args.timeout * len(cases) + 30
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task(f"{args.function}", total=len(cases))
                while True:
                    run = http.get(f"/api/v1/test-runs/{run_id}").raise_for_status().json()
                    progress.update(task, completed=run["progress"]["done"])
                    if run["status"] != "running" and run["progress"]["done"] == len(cases):
                        break
                    if time.monotonic() > deadline:
                        console.print("error: the run did not finish in time", style="red")
                        break
                    time.sleep(_POLL_S)
    except httpx.HTTPError as error:
        console.print(f"error: cannot reach the receiver at {url}: {error}", style="red")
        return 2
    console.print(format_summary(run))
    passed = run["progress"]["counts"].get("passed", 0)
    return 0 if passed == len(cases) else 1


def add_commands(commands: Any) -> None:
    """Add ``test-run`` to the ``spanlink-receiver`` sub-commands."""
    sub = commands.add_parser(
        "test-run", help="run test cases against a connected @endpoint function"
    )
    sub.add_argument("--function", help="the @endpoint function name (required)")
    sub.add_argument("--cases", help='JSONL file: {"id", "inputs", ...} per line')
    sub.add_argument(
        "--dataset", help="run a dataset's cases: NAME or NAME@VERSION (default: the latest)"
    )
    add_client_options(sub)
    sub.add_argument("--environment", help="the endpoint's environment")
    sub.add_argument("--configuration-id", dest="configuration_id")
    sub.add_argument("--name", help="a name for the run")
    sub.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    sub.add_argument("--concurrency", type=int, default=4, help="cases at once")
    sub.set_defaults(handler=run_command)
    actions = sub.add_subparsers(dest="test_run_command", metavar="{compare}")
    add_compare_command(actions)
