"""Suite-wide fixtures and settings.

``tests/`` is on ``sys.path`` (``pythonpath`` in pytest.ini), so the shared modules import by
name from every folder: ``services`` (``require_service``), ``receiver_fixtures`` (a
migrated database of the session's own, a live receiver, projects and keys — exposed here
as fixtures for the whole suite) and the ``*_helpers`` modules.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from services import require_service

# ``pytester`` for the pytest plugin's tests (tests/pytest_plugin); the fixtures of
# ``receiver_fixtures`` (database_url, receiver, project, api_key, client, cli...) everywhere.
pytest_plugins = ["pytester", "receiver_fixtures"]

__all__ = ["require_service"]

# Property tests are deterministic everywhere (the same examples on every run and machine);
# a test's own ``@settings`` changes only what it names.
settings.register_profile("spanlink", derandomize=True, print_blob=True)
settings.load_profile("spanlink")

#: Most worker processes for a run of whole folders (``hatch test`` runs ``-n auto``).
_MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores (many tests wait on a server or a child
    process rather than compute) for a run of whole folders; none for chosen files or tests,
    which start faster in one process."""
    targets = [arg for arg in config.args if not arg.startswith("-")] or ["."]
    if not all(Path(arg).is_dir() for arg in targets):
        return 0
    return min(_MAX_WORKERS, (os.cpu_count() or 1) + 1)
