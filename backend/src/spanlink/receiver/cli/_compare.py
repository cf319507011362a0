"""``spanlink-receiver test-run compare RUN [--baseline RUN|auto]``: the CI regression gate.

Asks the receiver's ``GET /api/v1/test-runs/{run}/compare`` and prints the comparison as a
table, regressions first with their reasons. Exit status: 1 when any case regressed, 0 when
none did, 2 when the comparison could not be made (unknown run, no baseline, no receiver).
"""

from __future__ import annotations

import argparse
from typing import Any

from spanlink.receiver.cli._options import add_client_options, client

__all__ = ["add_compare_command", "compare_command", "format_comparison"]

_STYLES = {"regressed": "red", "fixed": "green", "still_failing": "yellow", "new": "cyan"}


def _signed(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}{unit}"


def _run_title(run: dict[str, Any]) -> str:
    commit = f" @ {run['commit'][:12]}" if run.get("commit") else ""
    branch = f" ({run['branch']})" if run.get("branch") else ""
    return f"{run['id']}{branch}{commit}"


def format_comparison(answer: dict[str, Any]) -> Any:
    """The comparison as a ``rich`` table: one row per case, regressions first."""
    from rich.table import Table

    counts = answer["summary"]["counts"]
    shown = ", ".join(f"{n} {change.replace('_', ' ')}" for change, n in counts.items() if n)
    table = Table(
        title=f"{_run_title(answer['run'])} vs baseline {_run_title(answer['baseline'])}: "
        f"{shown or 'no cases'}"
    )
    for column, justify in (
        ("case", "left"),
        ("change", "left"),
        ("reasons", "left"),
        ("Δ latency", "right"),
        ("Δ tokens", "right"),
        ("Δ cost", "right"),
        ("first seen", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    first_seen = {item["case_id"]: item.get("first_seen") for item in answer.get("regressions", ())}
    for case in answer["cases"]:
        change = case["change"]
        style = _STYLES.get(change, "")
        deltas = case["deltas"]
        seen = first_seen.get(case["case_id"])
        table.add_row(
            str(case["case_id"]),
            f"[{style}]{change}[/{style}]" if style else change,
            "; ".join(reason["message"] for reason in case["reasons"]),
            _signed(deltas["latency_ms"]["delta"], " ms"),
            _signed(deltas["tokens"]["delta"], digits=0),
            _signed(deltas["cost_usd"]["delta"], " $", digits=6),
            seen["run_id"] if seen else "",
        )
    return table


def compare_command(args: argparse.Namespace) -> int:
    """Print the comparison of ``args.run`` with its baseline; see the module docs."""
    import httpx
    from rich.console import Console

    console = Console()
    try:
        with client(args, timeout=args.timeout) as http:
            response = http.get(
                f"/api/v1/test-runs/{args.run}/compare",
                params={
                    "baseline": args.baseline,
                    **({"branch": args.branch} if args.branch else {}),
                },
            )
    except httpx.HTTPError as error:
        console.print(f"error: cannot reach the receiver: {error}", style="red")
        return 2
    if response.status_code != 200:
        try:
            detail = response.json().get("message")
        except ValueError:
            detail = response.text
        console.print(f"error: {response.status_code}: {detail}", style="red")
        return 2
    answer = response.json()
    for warning in answer["warnings"]:
        console.print(f"warning: {warning}", style="yellow")
    console.print(format_comparison(answer))
    regressed = answer["summary"]["counts"]["regressed"]
    delta = answer["summary"]["totals"]["cost_usd_delta"]
    console.print(
        f"{regressed} regression(s); total cost {_signed(delta, ' $', digits=6)}",
        style="red" if regressed else "green",
    )
    return 1 if regressed else 0


def add_compare_command(commands: Any) -> None:
    """Add ``compare`` to the ``test-run`` sub-commands."""
    sub = commands.add_parser(
        "compare", help="compare a run with its baseline; exit 1 on a regression"
    )
    sub.add_argument("run", help="the run id")
    sub.add_argument("--baseline", default="auto", help="a run id, or auto (default)")
    sub.add_argument("--branch", help="the baseline branch for auto (default: recorded, else main)")
    sub.add_argument("--timeout", type=float, default=30.0, help="seconds")
    add_client_options(sub)
    sub.set_defaults(handler=compare_command)
