"""Suite-wide fixtures and settings.

``tests/`` is on ``sys.path`` (``pythonpath`` in pytest.ini), so the shared modules import by
name from every folder: ``services`` (``require_service``), ``receiver_fixtures`` (a
migrated database of the session's own, a live receiver, projects and keys — exposed here
as fixtures for the whole suite) and the ``*_helpers`` modules.
"""

from __future__ import annotations

from receiver_fixtures import api_key, cli, client, database_url, project, receiver, server_url
from services import require_service

# ``pytester`` for the pytest plugin's tests (tests/pytest_plugin).
pytest_plugins = ["pytester"]

__all__ = [
    "api_key",
    "cli",
    "client",
    "database_url",
    "project",
    "receiver",
    "require_service",
    "server_url",
]
