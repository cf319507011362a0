"""The ``spanlink-receiver`` command: one command group per resource.

``serve``/``migrate`` (``_server``), ``keys`` (``_keys``), ``traces`` (``_traces``),
``plugins``/``worker`` (``_enrichment``), ``test-run`` (``_test_runs``), ``redaction``
(``_redaction``), ``datasets`` (``_datasets``); the options they
share are in ``_options``. Each group imports its heavy dependencies inside its handlers,
so the command line starts quickly.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from spanlink.receiver.cli import (
    _datasets,
    _enrichment,
    _keys,
    _redaction,
    _server,
    _test_runs,
    _traces,
)

__all__ = ["main"]

_GROUPS = (_server, _keys, _redaction, _traces, _enrichment, _test_runs, _datasets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spanlink-receiver", description="spanlink's OTLP trace receiver."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
