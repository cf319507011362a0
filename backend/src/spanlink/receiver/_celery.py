"""What enrichment and evaluation share on Celery (``pip install 'spanlink-receiver[celery]'``).

One broker configuration (deadlines on every socket operation), one way to start a worker
and to close an app. Each job registers its own task on the app; Celery is imported only
when a Celery executor or worker is used.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["CeleryMissing", "broker_app", "close_app", "run_worker"]


class CeleryMissing(RuntimeError):
    """Celery is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "the celery enrichment executor needs Celery: pip install 'spanlink-receiver[celery]'"
        )


def broker_app(broker_url: str, queue: str) -> Celery:
    """A Celery app sending to / consuming ``queue`` on ``broker_url``, with no task yet."""
    try:
        from celery import Celery
    except ImportError as error:
        raise CeleryMissing() from error

    app = Celery("spanlink-receiver", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2.0,
        # Deadlines on every socket operation: the receiver never waits on a dead broker.
        # One quick retry when sending, then the caller falls back to in-process.
        broker_transport_options={
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        redis_socket_connect_timeout=2,
        redis_socket_timeout=5,
    )
    return app


def run_worker(app: Celery, queue: str, concurrency: int, loglevel: str, *extra: str) -> Any:
    """Run a Celery worker of ``app`` consuming ``queue`` until it is stopped (blocks);
    ``extra``: more ``celery worker`` arguments."""
    argv = [
        "worker",
        f"--queues={queue}",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]
    return app.worker_main(argv)


def close_app(app: Celery, log: logging.Logger) -> None:
    """Release the app's broker connections (a failure is logged to ``log`` at debug)."""
    try:
        app.close()
    except Exception:  # closing a dead connection may raise; nothing to do about it
        log.debug("closing the celery app failed", exc_info=True)
