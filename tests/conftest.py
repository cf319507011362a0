"""Suite-wide fixtures and settings.

``tests/`` is on ``sys.path`` (``pythonpath`` in pytest.ini), so the shared modules import by
name from every folder: ``services`` (``require_service``), ``receiver_fixtures`` (a
migrated database of the session's own, a live receiver, projects and keys — exposed here
as fixtures for the whole suite) and the ``*_helpers`` modules.
"""

from __future__ import annotations

from services import require_service

# ``pytester`` for the pytest plugin's tests (tests/pytest_plugin); the fixtures of
# ``receiver_fixtures`` (database_url, receiver, project, api_key, client, cli...) everywhere.
pytest_plugins = ["pytester", "receiver_fixtures"]

__all__ = ["require_service"]
