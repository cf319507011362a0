"""Closing what a receiver or a case left open: heartbeats of executed runs, abandoned and
orphaned cases and runs, stale endpoint connection rows. Run by any receiver's sweep.

Every function takes a connection in a transaction scoped to the project.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

__all__ = [
    "ABANDONED_AFTER_S",
    "EXECUTOR_FRESH_S",
    "ORPHANED_CASE_ERROR",
    "close_abandoned",
    "fail_orphaned",
    "heartbeat_runs",
]

#: Beyond a case's timeout, how long a running case may stay open before it is abandoned.
ABANDONED_AFTER_S = 60

_CLOSE_ABANDONED_RESULTS = text(
    f"""
    UPDATE test_results r SET status = 'timeout', finished_at = now(),
        error = 'Timeout: the receiver running this case went away before it finished'
    FROM test_runs run
    WHERE run.id = r.run_id AND r.status = 'running'
      AND NOT run.metadata ? 'reporter_seen'
      AND r.started_at < now() - make_interval(
          secs => coalesce((run.metadata->>'timeout_s')::float8, 60) + {ABANDONED_AFTER_S})
    """
)
_CLOSE_FINISHED_RUNS = text(
    f"""
    UPDATE test_runs run SET status = 'completed', finished_at = now()
    WHERE run.status = 'running' AND NOT run.metadata ? 'reporter_seen'
      AND run.started_at < now() - make_interval(secs => {ABANDONED_AFTER_S})
      AND NOT EXISTS (SELECT 1 FROM test_results r
                      WHERE r.run_id = run.id AND r.status IN ('pending', 'running'))
    """
)


#: A run whose executing receiver has not refreshed it for this long has no executor left.
EXECUTOR_FRESH_S = 30

_HEARTBEAT_RUNS = text(
    """
    UPDATE test_runs SET metadata = metadata || jsonb_build_object(
        'executor', CAST(:receiver AS text),
        'executor_seen', CASE WHEN :alive THEN extract(epoch FROM now()) ELSE 0 END)
    WHERE id = ANY(:ids) AND status = 'running'
    """
)
_ORPHANED = """
    run.status = 'running' AND run.metadata ? 'executor_seen'
    AND (run.metadata->>'executor_seen')::float8 < extract(epoch FROM now()) - :fresh
"""
ORPHANED_CASE_ERROR = (
    "ReceiverGone: the receiver running this test run stopped before invoking this case; "
    "start the run again to run it"
)
_FAIL_ORPHANED_CASES = text(
    f"""
    UPDATE test_results r SET status = 'error', finished_at = now(), error = :error,
        metadata = r.metadata || '{{"error_type": "ReceiverGone"}}'::jsonb
    FROM test_runs run
    WHERE run.id = r.run_id AND r.status = 'pending' AND {_ORPHANED}
    """
)
_CLOSE_ORPHANED_RUNS = text(
    f"""
    UPDATE test_runs run SET status = 'completed', finished_at = now()
    WHERE {_ORPHANED}
      AND NOT EXISTS (SELECT 1 FROM test_results r
                      WHERE r.run_id = run.id AND r.status IN ('pending', 'running'))
    """
)


def heartbeat_runs(
    connection: Connection, run_ids: Sequence[str], receiver_id: str, alive: bool = True
) -> None:
    """Record that ``receiver_id`` executes these running runs (now), or, with ``alive``
    False, that it stopped executing them (their not-started cases are then failed by the
    next sweep of any receiver)."""
    if run_ids:
        connection.execute(
            _HEARTBEAT_RUNS, {"ids": list(run_ids), "receiver": receiver_id, "alive": alive}
        )


def fail_orphaned(connection: Connection) -> int:
    """Fail the not-started cases of runs whose executing receiver is gone (it stopped, or
    has not refreshed the run for ``EXECUTOR_FRESH_S``), and finish such runs once no case
    is open. Returns the cases failed."""
    fresh = float(EXECUTOR_FRESH_S)  # read per call: tests shorten it
    failed = connection.execute(
        _FAIL_ORPHANED_CASES, {"error": ORPHANED_CASE_ERROR, "fresh": fresh}
    ).rowcount
    connection.execute(_CLOSE_ORPHANED_RUNS, {"fresh": fresh})
    return int(failed or 0)


def close_abandoned(connection: Connection) -> None:
    """Close cases running far past their deadline, runs with no open case left, and forget
    endpoint connections of receivers that went away.

    The receiver executing a run closes both itself; this is for when it went away.
    """
    connection.execute(_CLOSE_ABANDONED_RESULTS)
    fail_orphaned(connection)
    connection.execute(_CLOSE_FINISHED_RUNS)
    # Rows of connections whose receiver stopped refreshing them (it crashed).
    connection.execute(
        text("DELETE FROM endpoint_connections WHERE last_seen < now() - interval '10 minutes'")
    )
