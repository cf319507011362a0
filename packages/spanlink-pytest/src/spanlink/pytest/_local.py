"""``--spanlink-local``: an embedded receiver (and database) for the session.

Uses ``SPANLINK_DATABASE_URL`` when set, else the receiver's embedded Postgres; the
receiver serves on a free loopback port in a thread of the session and stops with it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from spanlink.pytest._errors import SpanlinkPytestError

__all__ = ["LocalReceiver", "local_available", "start_local_receiver"]

#: The project the local receiver's runs are reported to.
LOCAL_PROJECT = "pytest"


@dataclass
class LocalReceiver:
    """A receiver serving for this session only."""

    url: str
    api_key: str
    database_url: str
    running: Any

    def stop(self) -> None:
        """Stop serving (bounded)."""
        self.running.stop(timeout=5.0)


def local_available() -> bool:
    """True when ``spanlink-receiver`` is installed (``spanlink-pytest[local]``)."""
    try:
        return importlib.util.find_spec("spanlink.receiver") is not None
    except (ImportError, ValueError):
        return False


def start_local_receiver(project: str = LOCAL_PROJECT) -> LocalReceiver:
    """Start the receiver on a free loopback port with a fresh API key for ``project``."""
    if not local_available():
        raise SpanlinkPytestError(
            "--spanlink-local needs the receiver: pip install 'spanlink-pytest[local]' "
            "(or give --spanlink-url of a running receiver)"
        )
    from spanlink.receiver.embedded import ensure_database_url
    from spanlink.receiver.server import start_in_thread
    from spanlink.receiver.settings import Settings
    from spanlink.receiver.storage import create_api_key, upgrade

    try:
        database_url = ensure_database_url(os.environ.get("SPANLINK_DATABASE_URL") or None)
        upgrade(database_url)
        key = create_api_key(database_url, project)
        running = start_in_thread(Settings(database_url=database_url))
    except Exception as error:
        raise SpanlinkPytestError(
            f"the local receiver could not start: {type(error).__name__}: {error}. "
            "Set SPANLINK_DATABASE_URL to a Postgres you can use, or give --spanlink-url."
        ) from error
    return LocalReceiver(url=running.url, api_key=key, database_url=database_url, running=running)
