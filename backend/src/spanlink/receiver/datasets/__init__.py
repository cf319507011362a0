"""Datasets: named, versioned sets of test cases per project (``POST /api/v1/datasets``).

``_store`` pushes cases as a new version and reads datasets and versions back; ``_redact``
applies the project's redaction rules to cases before they are stored. A test run started
from a dataset version runs its cases (``POST /api/v1/test-runs`` with ``dataset``).
"""

from __future__ import annotations

from spanlink.receiver.datasets._redact import redact_dataset_cases
from spanlink.receiver.datasets._store import (
    DatasetCase,
    PushResult,
    get_version,
    list_datasets,
    load_cases,
    push_cases,
)

__all__ = [
    "DatasetCase",
    "PushResult",
    "get_version",
    "list_datasets",
    "load_cases",
    "push_cases",
    "redact_dataset_cases",
]
