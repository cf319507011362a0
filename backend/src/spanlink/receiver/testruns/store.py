"""The test-run store: runs and results in Postgres. Synchronous (run in a thread).

Every function takes a SQLAlchemy connection inside a transaction already scoped to the
project (``storage.project_transaction``), so row-level security guards each statement as
well. One place to import them from; they live by job in ``_records`` (create a run, move a
result through its states), ``_housekeeping`` (close what a receiver left open) and
``_documents`` (runs read back as API documents). Tunables (``EXECUTOR_FRESH_S``, ...) are
read where they are used, from those modules.
"""

from __future__ import annotations

from spanlink.receiver.testruns._documents import get_run, list_runs
from spanlink.receiver.testruns._housekeeping import (
    ORPHANED_CASE_ERROR,
    close_abandoned,
    fail_orphaned,
    heartbeat_runs,
)
from spanlink.receiver.testruns._records import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    CaseInput,
    FinishedResult,
    InvocationTarget,
    PartialOutput,
    cancel_run,
    create_run,
    finish_result,
    finish_run,
    invocation_target,
    mark_running,
    open_results,
    record_partial,
)

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "ORPHANED_CASE_ERROR",
    "CaseInput",
    "FinishedResult",
    "InvocationTarget",
    "PartialOutput",
    "cancel_run",
    "close_abandoned",
    "create_run",
    "fail_orphaned",
    "finish_result",
    "finish_run",
    "get_run",
    "heartbeat_runs",
    "invocation_target",
    "list_runs",
    "mark_running",
    "open_results",
    "record_partial",
]
