"""The ``spanlink-receiver`` command line (``main``); see ``_main`` for its command groups.

``format_comparison`` renders a ``GET /api/v1/test-runs/{id}/compare`` answer as the table
``test-run compare`` prints (the demo prints it too).
"""

from __future__ import annotations

from spanlink.receiver.cli._compare import format_comparison
from spanlink.receiver.cli._main import main

__all__ = ["format_comparison", "main"]
