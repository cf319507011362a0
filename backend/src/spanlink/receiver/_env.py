"""The environment variables the receiver reads, one constant each (arguments always win).

Besides these, every field of :class:`spanlink.receiver.settings.Settings` is read from
``SPANLINK_<FIELD>`` (e.g. ``SPANLINK_MAX_BODY_BYTES``); :data:`SETTINGS_PREFIX` is that
prefix. A variable set to an empty or blank value counts as unset.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = [
    "DEFAULT_RECEIVER_URL",
    "SETTINGS_PREFIX",
    "SPANLINK_API_KEY",
    "SPANLINK_BROKER_URL",
    "SPANLINK_CELERY_QUEUE",
    "SPANLINK_DATABASE_URL",
    "SPANLINK_DATA_DIR",
    "SPANLINK_ENDPOINT",
    "SPANLINK_EVALUATION_CELERY_QUEUE",
    "SPANLINK_RECEIVER_URL",
    "get",
    "receiver_url",
]

SETTINGS_PREFIX = "SPANLINK_"
"""Prefix of the ``Settings`` fields: ``SPANLINK_<FIELD>``."""

SPANLINK_DATABASE_URL = "SPANLINK_DATABASE_URL"
"""PostgreSQL URL of the receiver's database; unset: the CLI starts an embedded Postgres."""

SPANLINK_DATA_DIR = "SPANLINK_DATA_DIR"
"""Directory of the embedded Postgres's data (``<dir>/postgres``); default: the user data dir."""

SPANLINK_API_KEY = "SPANLINK_API_KEY"
"""API key the client commands (``traces``, ``test-run``) send, as the SDKs do."""

SPANLINK_ENDPOINT = "SPANLINK_ENDPOINT"
"""Base URL of a running receiver for the client commands: the SDKs' variable."""

SPANLINK_RECEIVER_URL = "SPANLINK_RECEIVER_URL"
"""Deprecated spelling of :data:`SPANLINK_ENDPOINT`; still read, with a warning."""

SPANLINK_BROKER_URL = "SPANLINK_BROKER_URL"
"""Celery broker URL for ``worker`` and ``serve --enrichment celery`` (a ``Settings`` field)."""

SPANLINK_CELERY_QUEUE = "SPANLINK_CELERY_QUEUE"
"""Celery queue of the enrichment tasks (a ``Settings`` field); default ``spanlink-enrichment``."""

SPANLINK_EVALUATION_CELERY_QUEUE = "SPANLINK_EVALUATION_CELERY_QUEUE"
"""Celery queue of the evaluation tasks (a ``Settings`` field); default ``spanlink-evaluation``."""

#: Where the client commands connect when neither ``--url`` nor a variable says.
DEFAULT_RECEIVER_URL = "http://127.0.0.1:4318"


def get(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The stripped value of ``name``, or None when unset or blank."""
    value = (environ if environ is not None else os.environ).get(name, "").strip()
    return value or None


def receiver_url(environ: Mapping[str, str] | None = None) -> str:
    """The receiver URL for the client commands: ``SPANLINK_ENDPOINT``, else the deprecated
    ``SPANLINK_RECEIVER_URL`` (with a warning on stderr), else :data:`DEFAULT_RECEIVER_URL`.
    """
    url = get(SPANLINK_ENDPOINT, environ)
    if url is not None:
        return url
    url = get(SPANLINK_RECEIVER_URL, environ)
    if url is not None:
        print(
            f"warning: {SPANLINK_RECEIVER_URL} is deprecated; set {SPANLINK_ENDPOINT} "
            "(the variable the SDKs read) instead",
            file=sys.stderr,
        )
        return url
    return DEFAULT_RECEIVER_URL
