"""The ``spanlink-receiver`` command line (``main``); see ``_main`` for its command groups."""

from __future__ import annotations

from spanlink.receiver.cli._main import main

__all__ = ["main"]
