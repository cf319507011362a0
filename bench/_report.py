"""What every benchmark reports besides its figures, written once.

The machine and load-average lines, the command line a section quotes, percentiles and the
``p50 | p95 | p99`` table row, the ``--rounds``/``--write`` and ``--database-url`` options, and
printing a section and appending it to ``RESULTS.md``. Standard library only, so the scripts
that start no receiver can use it too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


def load_average() -> str:
    """The 1/5/15-minute load average as ``a / b / c`` (``n/a`` where the platform has none).

    Reported before and after each run: the machine may be shared.
    """
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def load_line(before: str, after: str) -> str:
    """The sentence a section ends with: the load average before and after the run."""
    return f"Load average (1/5/15 min) before: {before}; after: {after}."


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """``python bench/<script> <arguments>``, as a section quotes it (without ``--write``)."""
    arguments = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"bench/{script}", *(a for a in arguments if a != "--write")])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_row(label: str, values: list[float]) -> str:
    """A table row ``| label | count | p50 | p95 | p99 |`` of millisecond figures."""
    return (
        f"| {label} | {len(values)} | {percentile(values, 0.50):.1f} ms | "
        f"{percentile(values, 0.95):.1f} ms | {percentile(values, 0.99):.1f} ms |"
    )


def parse_rounds(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    *,
    rounds: int,
    minimum: int,
    figure: str,
    unit: str = "interleaved rounds",
) -> argparse.Namespace:
    """Add ``--rounds`` and ``--write`` to ``parser``, then parse ``argv``.

    ``--rounds`` defaults to ``rounds`` and must be at least ``minimum`` (``figure`` says
    why). Options the script does not know are ignored: ``run_all.py`` passes every script
    the same flags.
    """
    parser.add_argument("--rounds", type=int, default=rounds, help=f"{unit} (>= {minimum})")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args, _ = parser.parse_known_args(argv)
    if args.rounds < minimum:
        parser.error(f"--rounds must be at least {minimum} (the figure is {figure})")
    return args


def add_database_url(parser: argparse.ArgumentParser, *environment: str) -> None:
    """``--database-url``: the Postgres server to make scratch databases on.

    Its default is the first of the ``environment`` variables that is set, else none: the
    embedded Postgres.
    """
    default = next((os.environ[name] for name in environment if os.environ.get(name)), None)
    where = " or ".join(f"${name}" for name in environment)
    parser.add_argument(
        "--database-url",
        default=default,
        help=f"Postgres server (default: {where + ', else ' if where else ''}embedded)",
    )


def report(lines: list[str], load: tuple[str, str], write: bool, path: Path = RESULTS) -> None:
    """Print a Markdown section: ``lines``, then the load average before and after the run.

    With ``write``, also append it to ``RESULTS.md`` (or ``path``).
    """
    section = "\n".join([*lines, load_line(*load), ""])
    print(section)
    if write:
        append_section(section, path)


def append_section(section: str, path: Path = RESULTS) -> None:
    """Append a Markdown section to ``RESULTS.md`` (or ``path``), creating the file if needed."""
    if not path.exists():
        path.write_text("# Benchmark results\n", encoding="utf-8")
    with path.open("a", encoding="utf-8") as out:
        out.write(section)
    print(f"appended to {path}")
